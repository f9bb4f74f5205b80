//! `relocation-bench [ROWS]`: backup, verified restore and relocation of one tenant of ROWS
//! rows (default 100,000) between the two test servers, with the write freeze and a
//! writer's view of it (`system_tests::relocation_bench`). Exits 1 if an acknowledged
//! write did not reach the target.

use std::process::exit;

#[tokio::main]
async fn main() {
    let rows = match std::env::args().nth(1).map(|arg| arg.parse::<i64>()) {
        None => 100_000,
        Some(Ok(rows)) if rows > 0 => rows,
        Some(_) => {
            eprintln!("usage: relocation-bench [ROWS]");
            exit(2);
        }
    };
    let figures = system_tests::relocation_bench::run(rows).await;
    println!("{}", system_tests::relocation_bench::report(&figures));
    if figures.writes_lost > 0 {
        eprintln!(
            "{} acknowledged writes are missing on the target",
            figures.writes_lost
        );
        exit(1);
    }
}
