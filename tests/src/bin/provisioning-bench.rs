//! Provisioning benchmarks against the real servers the tests use (`TEST_DATABASE_URL`,
//! else the local server at 127.0.0.1:5432, else a private cluster; the second server as
//! in the tests):
//!
//! - `provisioning-bench [TENANTS]`: latency, p50/p95 over TENANTS tenants (default 200)
//!   each way (migrate from scratch, template clone, spare claim) in one run, with ratios;
//! - `provisioning-bench bulk [TENANTS] [WORKERS]`: TENANTS tenants (default 1000)
//!   provisioned at once by WORKERS workers (default 4) across two servers: throughput,
//!   and the checkpoints and WAL it cost each server;
//! - `provisioning-bench signup [SIGNUPS]`: what a customer waits for, signup request to
//!   the first authenticated `/me`, p50/p95 over SIGNUPS signups (default 100) through the
//!   whole platform with spares on, beside the provisioning job's own time.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("signup") => {
            let signups = count(args.get(1), 100);
            let run = system_tests::signup_bench::run(signups).await;
            println!("{}", system_tests::signup_bench::report(&run));
        }
        Some("bulk") => {
            let tenants = count(args.get(1), 1000);
            let workers = count(args.get(2), 4);
            let bulk = system_tests::bench::bulk(tenants, workers).await;
            println!("{}", system_tests::bench::bulk_report(&bulk));
        }
        first => {
            let tenants = count(first.map(str::to_owned).as_ref(), 200);
            let results = system_tests::bench::run(tenants).await;
            println!("{}", system_tests::bench::report(&results));
        }
    }
}

/// A positive count from the command line, or `default` when absent.
fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!(
                "usage: provisioning-bench [TENANTS] | provisioning-bench bulk [TENANTS] [WORKERS] \
                 | provisioning-bench signup [SIGNUPS]"
            );
            exit(2);
        }
    }
}
