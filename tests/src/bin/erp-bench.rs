//! The stock ledger benchmark (see `system_tests::erp_bench`) against the servers the tests
//! use: `erp-bench [TENANTS] [SECONDS] [ROWS] [ROUNDS]`: write tenants (default 100),
//! seconds per timed write run (default 10), ledger rows bulk-loaded for the reads
//! (default 1,000,000), read rounds (default 200). Release build:
//! `cargo run --release -p system-tests --bin erp-bench`.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tenants = count(args.first(), 100);
    let seconds = count(args.get(1), 10);
    let rows = count(args.get(2), 1_000_000);
    let rounds = count(args.get(3), 200);
    let report = system_tests::erp_bench::run(tenants, seconds as u64, rows as i64, rounds).await;
    println!("{}", system_tests::erp_bench::report(&report));
}

fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: erp-bench [TENANTS] [SECONDS] [ROWS] [ROUNDS]");
            exit(2);
        }
    }
}
