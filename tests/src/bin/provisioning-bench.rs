//! `provisioning-bench [TENANTS]`: provisioning latency, p50/p95 over TENANTS tenants
//! (default 200) each way — migrate from scratch, template clone, spare claim — in one
//! run against the same real server the tests use (`TEST_DATABASE_URL`, else the local
//! server at 127.0.0.1:5432, else a private cluster), with the ratios between them.

#[tokio::main]
async fn main() {
    let tenants = match std::env::args().nth(1).map(|arg| arg.parse::<usize>()) {
        None => 200,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: provisioning-bench [TENANTS > 0]");
            std::process::exit(2);
        }
    };
    let results = system_tests::bench::run(tenants).await;
    println!("{}", system_tests::bench::report(&results));
}
