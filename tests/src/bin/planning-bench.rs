//! The planning benchmark (see `system_tests::planning_bench`) against the servers the
//! tests use: `planning-bench [ROUNDS] [ORDERS]`: MRP runs over 1,000 items and 500 open
//! orders (default 20), and manufacturing orders of 50 components completed twice each
//! (default 100). Release build: `cargo run --release -p system-tests --bin planning-bench`.

use std::process::exit;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rounds = count(args.first(), 20);
    let orders = count(args.get(1), 100);
    let report = system_tests::planning_bench::run(rounds, orders).await;
    println!("{}", system_tests::planning_bench::report(&report));
}

fn count(arg: Option<&String>, default: usize) -> usize {
    match arg.map(|arg| arg.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: planning-bench [ROUNDS] [ORDERS]");
            exit(2);
        }
    }
}
