//! `migration-bench [TENANTS] [PER_SERVER]`: the fleet migration benchmark
//! (`system_tests::migration_bench`): TENANTS tenant databases (default 1,000) over the
//! two test servers, each with 1,000 rows in the migrated table, brought to a new schema
//! version by one run with PER_SERVER migrations at once per server (default 4), against
//! a warm tenant's reads with no run in the same process. Exits 1 unless every tenant
//! migrated.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tenants = count(args.first(), 1000);
    let per_server = count(args.get(1), 4);
    let run = system_tests::migration_bench::run(tenants, per_server as u32).await;
    println!("{}", system_tests::migration_bench::report(&run));
    if run.succeeded != tenants as i64 {
        eprintln!("{} of {tenants} tenants migrated", run.succeeded);
        exit(1);
    }
}

/// A positive count from the command line, or `default` when absent.
fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: migration-bench [TENANTS] [PER_SERVER]");
            exit(2);
        }
    }
}
