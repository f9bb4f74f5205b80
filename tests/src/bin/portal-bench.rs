//! The admin portal benchmark (see `system_tests::portal_bench`):
//! `portal-bench [TENANTS] [ROUNDS]`, TENANTS in the fleet (default 10000), ROUNDS of every
//! page (default 50). Release build recommended:
//! `cargo run --release -p system-tests --bin portal-bench`.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tenants = count(args.first(), 10_000);
    let rounds = count(args.get(1), 50);
    let timings = system_tests::portal_bench::run(tenants, rounds).await;
    println!("{}", system_tests::portal_bench::report(tenants, &timings));
}

fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: portal-bench [TENANTS] [ROUNDS]");
            exit(2);
        }
    }
}
