//! The invariants a chaos run must leave true, checked after a settle period: each check
//! answers what broke (empty: held), named so a failure says which promise it was.

use super::Chaos;
use super::workload::Calls;
use common::crypto::{Keyring, Sealed};
use common::ids::TenantId;
use provisioner::Provisioner;
use reqwest::Method;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Every invariant checked, in the order of the checks.
pub const NAMES: [&str; 9] = [
    "no job stuck",
    "no orphan database or role",
    "no active tenant without a working database",
    "every Stripe event stored and applied",
    "no Stripe event applied twice",
    "billing mirror matches Stripe",
    "every tenant's status consistent with its billing state",
    "every runtime's view converged",
    "usage neither lost nor counted twice",
];

/// How long jobs and events get to finish once the faults stop.
const SETTLE: Duration = Duration::from_secs(90);
/// How long every runtime gets to agree with the control database.
const CONVERGE: Duration = Duration::from_secs(5);
/// A queued job this far past its `run_after` after settling is stuck.
const OVERDUE_SECS: f64 = 15.0;

impl Chaos {
    /// Waits for the platform to settle, then checks every invariant; answers the broken
    /// ones as `invariant: what broke (seed N)`.
    pub(super) async fn settle_and_check(&self) -> Vec<String> {
        self.settle().await;
        let mut broken = Vec::new();
        let checks = [
            self.no_job_stuck().await,
            self.no_orphans().await,
            self.databases_work().await,
            self.events_applied().await,
            self.events_applied_once().await,
            self.mirror_matches_stripe().await,
            self.status_follows_billing().await,
            self.runtimes_converged().await,
        ];
        for (name, problems) in NAMES.iter().zip(checks) {
            broken.extend(problems.into_iter().map(|p| self.broke(name, &p)));
        }
        // Last: the runtimes must stop (and flush their counts) before usage is compared.
        self.procs.lock().await.stop_all().await;
        let usage = self.usage_exact().await;
        broken.extend(usage.into_iter().map(|p| self.broke(NAMES[8], &p)));
        broken
    }

    fn broke(&self, invariant: &str, problem: &str) -> String {
        format!("{invariant}: {problem} (seed {})", self.seed)
    }

    async fn count(&self, sql: &str) -> i64 {
        self.control
            .query_one(sql, &[])
            .await
            .map_or(-1, |row| row.get(0))
    }

    /// Until no job is queued or running, no event pending and no tenant in flight (or
    /// [`SETTLE`] passes: what is left is judged by [`Self::no_job_stuck`]).
    async fn settle(&self) {
        let started = Instant::now();
        let busy = "SELECT (SELECT count(*) FROM jobs WHERE state IN ('queued', 'running')) \
                  + (SELECT count(*) FROM stripe_events WHERE state = 'pending') \
                  + (SELECT count(*) FROM tenants WHERE status IN ('provisioning', 'deleting'))";
        while self.count(busy).await != 0 && started.elapsed() < SETTLE {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.note(format!(
            "settled in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }

    async fn no_job_stuck(&self) -> Vec<String> {
        let sql = format!(
            "SELECT kind || ' job ' || id || ' ' || state || ' (attempts ' || attempts || \
                    ', last error ' || coalesce(last_error, '-') || ')' FROM jobs \
             WHERE (state = 'running' AND lease_expires_at < now()) \
                OR (state = 'queued' AND run_after < now() - make_interval(secs => {OVERDUE_SECS})) \
             UNION ALL SELECT 'tenant ' || slug || ' still ' || status FROM tenants t \
             WHERE status IN ('provisioning', 'deleting') AND NOT EXISTS ( \
                SELECT 1 FROM jobs j WHERE j.tenant_id = t.id AND j.state IN ('queued', 'running') \
                  AND (j.state = 'queued' OR j.lease_expires_at >= now())) \
             UNION ALL SELECT 'Stripe event ' || id || ' pending, overdue' FROM stripe_events \
             WHERE state = 'pending' AND next_attempt_at < now() - make_interval(secs => {OVERDUE_SECS}) \
               AND (lease_until IS NULL OR lease_until < now())"
        );
        self.strings(&sql).await
    }

    async fn strings(&self, sql: &str) -> Vec<String> {
        match self.control.query(sql, &[]).await {
            Ok(rows) => rows.iter().map(|row| row.get(0)).collect(),
            Err(error) => vec![format!("query failed: {error}")],
        }
    }

    fn keyring(&self) -> Keyring {
        Keyring::from_settings(&self.settings).expect("keyring")
    }

    /// The reconciler's report (every server answered, nothing of ours left over).
    async fn no_orphans(&self) -> Vec<String> {
        let auditor = Provisioner::new(self.api.app.db.connect().await, self.keyring(), "chaos");
        match auditor.reconcile(false).await {
            Ok(report) if report.is_clean() && report.unreachable_servers.is_empty() => vec![],
            Ok(report) => vec![format!("{report:?}")],
            Err(error) => vec![format!("the reconciler failed: {error}")],
        }
    }

    /// Every active tenant's role logs in to its database and reads its users.
    async fn databases_work(&self) -> Vec<String> {
        let rows = self
            .control
            .query(
                "SELECT t.id, t.slug, t.db_name, s.name, t.db_password_key_id, \
                        t.db_password_ciphertext FROM tenants t \
                 JOIN database_servers s ON s.id = t.server_id WHERE t.status = 'active'",
                &[],
            )
            .await
            .expect("active tenants");
        let keyring = self.keyring();
        let mut broken = Vec::new();
        for row in rows {
            let (id, slug): (Uuid, String) = (row.get(0), row.get(1));
            let (database, server): (String, String) = (row.get(2), row.get(3));
            let sealed = Sealed {
                key_id: row.get(4),
                ciphertext: row.get(5),
            };
            let Ok(password) = keyring.open_str(&sealed, id.as_bytes()) else {
                broken.push(format!("{slug}: its password does not open"));
                continue;
            };
            let server_url = match server.as_str() {
                "chaos" => self.server.url(),
                _ => crate::Server::primary().admin_url(),
            };
            let role = TenantId(id).database_name();
            let url = crate::fleet::role_url(server_url, &role, &password, &database);
            let answered = match crate::fleet::try_connect(&url).await {
                Ok(db) => db.query_one("SELECT count(*) FROM users", &[]).await.err(),
                Err(error) => Some(error),
            };
            if let Some(error) = answered {
                broken.push(format!("{slug} on {server}: {}", pg_error(&error)));
            }
        }
        broken
    }

    /// Every event acknowledged is in the ledger with its deliveries, applied or ignored.
    async fn events_applied(&self) -> Vec<String> {
        let sent = self.tally.lock().expect("tally").events.clone();
        let mut broken = Vec::new();
        for event in sent.iter().filter(|event| event.acked > 0) {
            let row = self
                .control
                .query_opt(
                    "SELECT state, deliveries FROM stripe_events WHERE id = $1",
                    &[&event.id],
                )
                .await
                .expect("ledger");
            match row.map(|row| (row.get::<_, String>(0), row.get::<_, i32>(1))) {
                None => broken.push(format!("{} acknowledged but not stored", event.id)),
                Some((_, deliveries)) if deliveries < event.acked => broken.push(format!(
                    "{}: {} deliveries acknowledged, {deliveries} recorded",
                    event.id, event.acked
                )),
                Some((state, _)) if state != "processed" && state != "ignored" => {
                    broken.push(format!("{} left {state}", event.id));
                }
                Some(_) => {}
            }
        }
        broken
    }

    /// An event's effect (an audited change of the mirror or the status) happens once,
    /// however often it is delivered or its worker dies.
    async fn events_applied_once(&self) -> Vec<String> {
        self.strings(
            "SELECT reason || ': ' || action || ' audited ' || count(*) || ' times' \
             FROM audit_log WHERE actor_kind = 'stripe' GROUP BY reason, action \
             HAVING count(*) > 1",
        )
        .await
    }

    /// Each tenant's mirrored billing state is what Stripe (the fake) says now.
    async fn mirror_matches_stripe(&self) -> Vec<String> {
        let rows = self
            .control
            .query(
                "SELECT slug, stripe_customer_id, billing_state FROM tenants \
                 WHERE stripe_customer_id IS NOT NULL AND status NOT IN ('deleting', 'deleted')",
                &[],
            )
            .await
            .expect("tenants");
        let subscriptions = self.stripe.subscriptions();
        let mut broken = Vec::new();
        for row in rows {
            let (slug, customer, mirrored): (String, String, String) =
                (row.get(0), row.get(1), row.get(2));
            let Some(subscription) = subscriptions
                .iter()
                .find(|s| s["customer"] == customer.as_str())
            else {
                continue;
            };
            let status = subscription["status"].as_str().unwrap_or_default();
            if status != mirrored {
                broken.push(format!("{slug}: Stripe says {status}, mirrored {mirrored}"));
            }
        }
        broken
    }

    /// Unpaid, paused or canceled: not served; suspended for billing: something unpaid.
    async fn status_follows_billing(&self) -> Vec<String> {
        self.strings(
            "SELECT slug || ': ' || status || ' (' || coalesce(suspension_kind, '-') || \
                    ') with billing ' || billing_state FROM tenants \
             WHERE (billing_state IN ('unpaid', 'paused', 'canceled') \
                    AND status NOT IN ('suspended', 'deleting', 'deleted')) \
                OR (status = 'suspended' AND suspension_kind = 'billing' \
                    AND billing_state NOT IN ('unpaid', 'paused', 'canceled'))",
        )
        .await
    }

    /// Every runtime answers each tenant as its status says; an active one's API works
    /// through every extra runtime; and a suspension reaches every runtime within
    /// [`CONVERGE`].
    async fn runtimes_converged(&self) -> Vec<String> {
        let mut broken = Vec::new();
        let mut runtimes = self.runtimes().await;
        runtimes.push(self.api.app.tenant_runtime_url.clone());
        let tenants = self.tenants().await;
        for (slug, expected) in &tenants {
            for runtime in &runtimes {
                if let Err(seen) = self.answers(runtime, slug, *expected).await {
                    broken.push(format!(
                        "{runtime} answers {slug} {seen}, expected {expected}"
                    ));
                }
            }
        }
        for (pick, (slug, _)) in tenants.iter().filter(|(_, s)| *s == ADMITTED).enumerate() {
            broken.extend(self.api_works(slug, pick).await);
        }
        if let Some((slug, _)) = tenants.iter().find(|(_, s)| *s == ADMITTED) {
            broken.extend(self.suspension_reaches_all(slug, &runtimes).await);
        }
        broken
    }

    /// Signed-up tenants and what the gate should answer `GET /` for each.
    async fn tenants(&self) -> Vec<(String, u16)> {
        let slugs = self.tally.lock().expect("tally").signups.clone();
        let rows = self
            .control
            .query(
                "SELECT slug, status, suspension_kind FROM tenants WHERE slug = ANY($1) \
                 ORDER BY slug",
                &[&slugs],
            )
            .await
            .expect("tenants");
        rows.iter()
            .map(|row| {
                let status: String = row.get(1);
                let kind: Option<String> = row.get(2);
                (row.get(0), gate_answer(&status, kind.as_deref()))
            })
            .collect()
    }

    /// Polls `GET /` of `slug` on `runtime` until the gate answers `expected` (see
    /// [`gate_answer`]); the last status seen when it never does within [`CONVERGE`].
    async fn answers(&self, runtime: &str, slug: &str, expected: u16) -> Result<(), u16> {
        let started = Instant::now();
        loop {
            let status = self
                .client
                .get(format!("{runtime}/"))
                .header("X-Tenant", slug)
                .send()
                .await
                .map_or(0, |response| response.status().as_u16());
            let admitted = (200..400).contains(&status);
            if (expected == ADMITTED && admitted) || status == expected {
                return Ok(());
            }
            if started.elapsed() > CONVERGE {
                return Err(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The owner signs in and reads `/me` through every extra runtime (the tenant's pools
    /// survived the faults); a few tries within [`CONVERGE`] each.
    async fn api_works(&self, slug: &str, pick: usize) -> Vec<String> {
        let started = Instant::now();
        let token = loop {
            if let Some(token) = self.token(slug, pick).await {
                break token;
            }
            if started.elapsed() > CONVERGE {
                let reply = self.sign_in(slug, pick).await;
                return vec![format!("{slug}: its owner cannot sign in: {reply:?}")];
            }
            self.note(format!("{slug}: a sign-in was refused, retrying"));
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let mut broken = Vec::new();
        for index in 0..self.runtimes().await.len() {
            let started = Instant::now();
            let mut last = None;
            while started.elapsed() < CONVERGE {
                let reply = self
                    .api_call(slug, index, Method::GET, "/api/v1/me", Some(&token), None)
                    .await;
                last = reply.map(|reply| (reply.status, reply.body));
                if last.as_ref().is_some_and(|(status, _)| *status == 200) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            if last.as_ref().is_none_or(|(status, _)| *status != 200) {
                broken.push(format!("{slug}: /me through runtime {index}: {last:?}"));
            }
        }
        broken
    }

    /// Suspends `slug` through control plane B and times until every runtime refuses it;
    /// resumes it through A.
    async fn suspension_reaches_all(&self, slug: &str, runtimes: &[String]) -> Vec<String> {
        let id: Uuid = self
            .control
            .query_one("SELECT id FROM tenants WHERE slug = $1", &[&slug])
            .await
            .expect("tenant")
            .get(0);
        let path = format!("/api/v1/tenants/{id}/suspend");
        let body = serde_json::json!({ "reason": "chaos convergence" });
        let suspended = self
            .control_call(1, Method::POST, &path, body.clone())
            .await;
        if suspended.as_ref().is_none_or(|reply| reply.status != 200) {
            return vec![format!("{slug} could not be suspended: {suspended:?}")];
        }
        let started = Instant::now();
        let mut broken = Vec::new();
        for runtime in runtimes {
            if let Err(seen) = self.answers(runtime, slug, 403).await {
                broken.push(format!(
                    "{runtime} still answers {seen} for suspended {slug}"
                ));
            }
        }
        self.note(format!(
            "a suspension reached {} runtimes in {} ms",
            runtimes.len(),
            started.elapsed().as_millis()
        ));
        let path = format!("/api/v1/tenants/{id}/resume");
        let _ = self.control_call(0, Method::POST, &path, body).await;
        broken
    }

    /// After every runtime stopped (flushing its counts): each tenant's recorded API
    /// calls are at least those known to be counted and at most those plus the uncertain.
    async fn usage_exact(&self) -> Vec<String> {
        let calls: BTreeMap<String, Calls> = self.tally.lock().expect("tally").calls.clone();
        let slugs: Vec<String> = calls.keys().cloned().collect();
        let rows = self
            .control
            .query(
                "SELECT t.slug, coalesce(sum(u.api_calls), 0)::bigint FROM tenants t \
                 LEFT JOIN tenant_usage_daily u ON u.tenant_id = t.id \
                 WHERE t.slug = ANY($1) GROUP BY t.slug",
                &[&slugs],
            )
            .await
            .expect("usage");
        let recorded: BTreeMap<String, i64> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let mut broken = Vec::new();
        for (slug, sent) in &calls {
            let got = u64::try_from(recorded.get(slug).copied().unwrap_or(0)).unwrap_or(0);
            if got < sent.counted || got > sent.counted + sent.uncertain {
                broken.push(format!(
                    "{slug}: {got} calls recorded, {} counted (+{} uncertain) sent; \
                     answers taken as not counted: {:?}",
                    sent.counted, sent.uncertain, sent.not_counted
                ));
            }
        }
        broken
    }
}

/// A Postgres error with its SQLSTATE and message (its `Display` says only "db error").
fn pg_error(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map_or_else(
        || error.to_string(),
        |db| format!("{} {}", db.code().code(), db.message()),
    )
}

/// Marks "admitted by the gate" among the expected answers (any status under 400).
const ADMITTED: u16 = 0;

/// What the gate answers `GET /` (a page no suspension leaves open) of a tenant in
/// `status`: admitted, 402 / 403 when suspended, 404 when gone, 503 while provisioning.
fn gate_answer(status: &str, suspension_kind: Option<&str>) -> u16 {
    match (status, suspension_kind) {
        ("active", _) => ADMITTED,
        ("suspended", Some("billing" | "trial_expired")) => 402,
        ("suspended", _) => 403,
        ("provisioning" | "pending", _) => 503,
        _ => 404,
    }
}
