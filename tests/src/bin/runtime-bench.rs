//! The tenant runtime benchmark (see `system_tests::runtime_bench`) against the servers the
//! tests use: `runtime-bench [TENANTS] [SECONDS]`, TENANTS for the churn (default 1000),
//! SECONDS of warm load each way (default 20). Release build recommended:
//! `cargo run --release -p system-tests --bin runtime-bench`.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tenants = count(args.first(), 1000);
    let seconds = count(args.get(1), 20);
    let report = system_tests::runtime_bench::run(tenants, seconds as u64).await;
    println!("{}", system_tests::runtime_bench::report(&report));
}

fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: runtime-bench [TENANTS] [SECONDS]");
            exit(2);
        }
    }
}
