//! `billing-bench [DELIVERIES] [CLIENTS]`: the webhook ingest benchmark
//! (`system_tests::webhook_bench`): DELIVERIES signed deliveries (default 10,000, a fifth
//! of them duplicates) posted by CLIENTS concurrent clients (default 32) to the whole
//! platform with billing on, against a `GET /healthz` baseline in the same run; then the
//! ledger is checked (exactly the distinct events, each applied once). Exits 1 if not.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let deliveries = count(args.first(), 10_000);
    let clients = count(args.get(1), 32);
    let run = system_tests::webhook_bench::run(deliveries, clients).await;
    println!("{}", system_tests::webhook_bench::report(&run));
    if !system_tests::webhook_bench::ledger_holds(&run) {
        eprintln!("the ledger does not hold exactly the distinct events, each applied once");
        exit(1);
    }
}

/// A positive count from the command line, or `default` when absent.
fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: billing-bench [DELIVERIES] [CLIENTS]");
            exit(2);
        }
    }
}
