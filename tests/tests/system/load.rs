//! The load benchmark (`system_tests::overload`) small, in every test run so it cannot rot:
//! 20 tenants, one of them noisy, a few seconds per phase, the runtime in its own process.
//! Only the behavioural facts are asserted, never latencies or memory.

use std::time::Duration;
use system_tests::overload::{self, Options};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_twice_its_capacity_the_runtime_limits_the_noisy_with_retry_after_and_recovers() {
    let options = Options {
        tenants: 20,
        phase: Duration::from_secs(2),
        soak: Duration::from_secs(4),
        rss_every: Duration::from_secs(1),
        runtime_exe: env!("CARGO_BIN_EXE_overload").into(),
    };
    let (report, _fleet) = overload::run(&options).await;
    let printed = overload::report(&report);
    // The reliability suite's short mode reads the row from here (`--nocapture`).
    println!("{printed}");
    assert_eq!(report.noisy, 1);
    assert!(report.baseline.quiet.requests > 0, "{printed}");
    assert!(report.overload.noisy_sent > 0, "{printed}");
    assert!(
        report.limited() > 0,
        "the noisy tenant was limited: {printed}"
    );
    assert!(
        report.limited_pages() > 0,
        "its pages were limited too: {printed}"
    );
    assert_eq!(report.limited_without_retry_after(), 0, "{printed}");
    assert_eq!(report.server_errors(), 0, "{printed}");
    assert_eq!(
        report.readmission.admitted, report.readmission.tried,
        "{printed}"
    );
    assert!(
        !report.memory.samples.is_empty(),
        "the runtime's RSS was read"
    );
    assert!(report.violations().is_empty(), "{printed}");
}
