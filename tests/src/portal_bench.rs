//! The admin portal benchmark: what a super-admin waits for on each main page with a fleet
//! of TENANTS tenants (rows inserted straight into the control database: the pages read
//! only the control database). Each page is fetched ROUNDS times over loopback with a
//! signed-in session, interleaved page by page so drift in the machine's load hits all
//! alike, and reported as p50 / p95 beside a baseline measured in the same run: `/healthz`,
//! the cheapest answer the same server gives. The target: every page's p95 well under
//! 100 ms at 10,000 tenants.

use crate::admin::AdminApi;
use crate::app::{ADMIN_EMAIL, ADMIN_PASSWORD};
use crate::bench::Latencies;
use crate::portal::PortalClient;
use std::time::Instant;

/// One measured page.
#[derive(Debug)]
pub struct PageTiming {
    pub page: String,
    pub latencies: Latencies,
}

/// Measures every page `rounds` times with `tenants` tenants in the fleet.
pub async fn run(tenants: usize, rounds: usize) -> Vec<PageTiming> {
    let api = AdminApi::start().await;
    api.register_primary().await;
    let sample = seed(&api, tenants).await;
    let portal =
        PortalClient::signed_in(&api.app.control_plane_url, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let deep_cursor = deep_cursor(&portal).await;
    let pages = [
        "/healthz".to_owned(),
        "/".to_owned(),
        "/tenants".to_owned(),
        "/tenants?sort=name&dir=asc".to_owned(),
        "/tenants?status=suspended&plan=growth".to_owned(),
        "/tenants?search=bench-77".to_owned(),
        format!("/tenants?sort=created&dir=desc&cursor={deep_cursor}"),
        format!("/tenants/{sample}"),
    ];
    let mut samples: Vec<Vec<std::time::Duration>> = vec![Vec::new(); pages.len()];
    for _ in 0..rounds {
        for (index, page) in pages.iter().enumerate() {
            let started = Instant::now();
            let reply = portal.get(page).await;
            samples[index].push(started.elapsed());
            assert_eq!(reply.status, 200, "{page}: {}", reply.body);
        }
    }
    pages
        .into_iter()
        .zip(samples)
        .map(|(page, mut sorted)| {
            sorted.sort();
            PageTiming {
                page,
                latencies: Latencies {
                    way: "page",
                    sorted,
                },
            }
        })
        .collect()
}

/// Inserts `tenants` tenants of every status and plan, created over the last 12 weeks, and
/// returns one active tenant's id.
async fn seed(api: &AdminApi, tenants: usize) -> String {
    let control = crate::fleet::connect(&api.app.db.url()).await;
    let count = i32::try_from(tenants).unwrap_or(i32::MAX);
    control
        .execute(
            "INSERT INTO tenants (slug, name, status, suspension_kind, status_reason, plan_code, \
                 admin_email, billing_state, created_at, deleted_at) \
             SELECT 'bench-' || n, 'Bench company ' || n, \
                 (ARRAY['active','active','active','active','active','active','active', \
                        'suspended','failed','deleted'])[n % 10 + 1], \
                 CASE WHEN n % 10 = 7 THEN 'admin' END, \
                 CASE WHEN n % 10 = 7 THEN 'benchmark' END, \
                 (ARRAY['trial','starter','growth','enterprise'])[n % 4 + 1], \
                 'owner' || n || '@bench.example', \
                 (ARRAY['none','trialing','active','past_due'])[n % 4 + 1], \
                 now() - (n % 84) * interval '1 day', \
                 CASE WHEN n % 10 = 9 THEN now() - (n % 70) * interval '1 day' END \
             FROM generate_series(1, $1) AS n",
            &[&count],
        )
        .await
        .expect("tenant rows");
    control
        .execute("ANALYZE tenants", &[])
        .await
        .expect("analyzed");
    let row = control
        .query_one(
            "SELECT id::text FROM tenants WHERE status = 'active' ORDER BY slug LIMIT 1",
            &[],
        )
        .await
        .expect("an active tenant");
    row.get(0)
}

/// The cursor of the tenant list's tenth page (50 per page), to time a page deep in.
async fn deep_cursor(portal: &PortalClient) -> String {
    let mut path = "/tenants?sort=created&dir=desc".to_owned();
    let mut cursor = String::new();
    for _ in 0..10 {
        let page = portal.get(&path).await;
        let Some(next) = next_link(&page.body) else {
            break;
        };
        cursor = next
            .split("cursor=")
            .nth(1)
            .unwrap_or_default()
            .split('&')
            .next()
            .unwrap_or_default()
            .to_owned();
        path = next.replace("&amp;", "&");
    }
    cursor
}

fn next_link(body: &str) -> Option<String> {
    let marker = "data-action=\"next-page\"";
    let at = body.find(marker)?;
    let start = body[..at].rfind("href=\"")? + "href=\"".len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}

/// The report: one line per page, its p50 and p95, and p95 as a multiple of the baseline's.
pub fn report(tenants: usize, timings: &[PageTiming]) -> String {
    let ms = |duration: std::time::Duration| duration.as_secs_f64() * 1000.0;
    let baseline = timings
        .first()
        .map_or(1.0, |timing| ms(timing.latencies.quantile(0.95)).max(0.001));
    let mut lines = vec![format!(
        "portal pages with {tenants} tenants ({} rounds each)",
        timings
            .first()
            .map_or(0, |timing| timing.latencies.sorted.len())
    )];
    lines.push(format!(
        "{:<52} {:>9} {:>9} {:>12}",
        "page", "p50 ms", "p95 ms", "p95/baseline"
    ));
    for timing in timings {
        let p95 = ms(timing.latencies.quantile(0.95));
        lines.push(format!(
            "{:<52} {:>9.1} {:>9.1} {:>12.1}",
            shorten(&timing.page),
            ms(timing.latencies.quantile(0.5)),
            p95,
            p95 / baseline
        ));
    }
    lines.join("\n")
}

fn shorten(page: &str) -> String {
    match page.split_once("cursor=") {
        Some((start, _)) => format!("{start}cursor=(page 10)"),
        None if page.starts_with("/tenants/") => "/tenants/{id}".to_owned(),
        None => page.to_owned(),
    }
}
