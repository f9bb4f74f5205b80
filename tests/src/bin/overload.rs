//! The load benchmark (see `system_tests::overload`): `overload [TENANTS] [SOAK_SECONDS]
//! [PHASE_SECONDS]` (defaults 1000, 600, 20) prints the phases' table and the reliability
//! row, and exits 1 when a behavioural fact broke (a 429 without `Retry-After`, a 5xx, a
//! noisy tenant not let in again). `overload serve-runtime` is the tenant runtime process
//! the benchmark starts (configured by `APP_*` variables). Release build recommended:
//! `cargo run --release -p system-tests --bin overload -- 1000 600`.

use std::process::exit;
use std::time::Duration;
use system_tests::overload::{self, Options, SERVE_RUNTIME};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(SERVE_RUNTIME) {
        return overload::serve_runtime().await;
    }
    let tenants = count(args.first(), 1000);
    let soak = count(args.get(1), 600) as u64;
    let phase = count(args.get(2), 20) as u64;
    let options = Options {
        tenants,
        phase: Duration::from_secs(phase),
        soak: Duration::from_secs(soak),
        rss_every: Duration::from_secs((soak / 60).clamp(1, 10)),
        runtime_exe: std::env::current_exe()?,
    };
    let (report, fleet) = overload::run(&options).await;
    println!("{}", overload::report(&report));
    eprintln!("dropping the {tenants} tenants' databases…");
    drop(fleet);
    if !report.violations().is_empty() {
        exit(1);
    }
    Ok(())
}

fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!(
                "usage: overload [TENANTS] [SOAK_SECONDS] [PHASE_SECONDS] | overload serve-runtime"
            );
            exit(2);
        }
    }
}
