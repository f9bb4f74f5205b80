//! The chaos run, long version (see `system_tests::chaos`): `chaos --seed N --seeds K
//! --rounds R` runs seeds N to N+K-1, R rounds each, on a fresh platform per seed; prints
//! each run's faults and broken invariants, then the reliability table's row, and exits
//! 1 when any invariant broke. Replay a failure with its seed.

use clap::Parser;
use system_tests::chaos;

#[derive(Parser)]
#[command(about = "Fault injection under load, with invariants")]
struct Args {
    /// The first seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How many seeds, from `--seed` on.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// Rounds (one fault each) per seed.
    #[arg(long, default_value_t = 12)]
    rounds: usize,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut reports = Vec::new();
    for seed in args.seed..args.seed + args.seeds.max(1) {
        let report = Box::pin(chaos::run(seed, args.rounds)).await;
        eprintln!(
            "seed {seed}: {} in {:.1} s; load: {}",
            report.fault_summary(),
            report.elapsed.as_secs_f64(),
            report.load
        );
        for violation in &report.violations {
            eprintln!("  BROKEN {violation}");
        }
        reports.push(report);
    }
    println!("{}", chaos::table_row(&reports));
    if reports.iter().any(|report| !report.violations.is_empty()) {
        std::process::exit(1);
    }
}
