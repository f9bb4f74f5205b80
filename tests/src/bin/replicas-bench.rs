//! The replicas benchmark (see `system_tests::replicas_bench`): two tenant runtimes, a
//! tenant limited to 600 requests a minute, and a connection budget shared under churn.
//! `replicas-bench [SECONDS] [TENANTS]`: SECONDS of measured rate per mode (default 60),
//! TENANTS provisioned (default 40; the first three are the rate runs'). Release build
//! recommended: `cargo run --release -p system-tests --bin replicas-bench`.

use std::process::exit;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds = count(args.first(), 60);
    let tenants = count(args.get(1), 40).max(4);
    let report =
        system_tests::replicas_bench::run(Duration::from_secs(seconds as u64), tenants).await;
    println!("{}", system_tests::replicas_bench::report(&report));
}

fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: replicas-bench [SECONDS] [TENANTS]");
            exit(2);
        }
    }
}
