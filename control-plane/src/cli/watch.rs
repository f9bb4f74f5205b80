//! `--wait`: polls what a command started (a job, a migration run, a backup, a server
//! being drained) until it ends, with an indicatif progress bar on stderr when stdout is
//! a terminal and the output is not `--json`. Work that fails, is halted or cancelled, or
//! outlasts `--timeout`, exits 6. Reading progress from an answer is pure and unit-tested;
//! unknown states count as still running, so a new state never ends a wait early.

use super::client::Api;
use super::endpoints;
use super::exit::{CliError, Exit};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// How often the API is asked.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// What a command waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Job(Uuid),
    MigrationRun(Uuid),
    Backup {
        tenant: Uuid,
        backup: Uuid,
    },
    /// A draining server until it holds no tenant.
    ServerEmpty(Uuid),
}

/// How to wait.
#[derive(Debug, Clone, Copy)]
pub struct Watch {
    pub timeout: Duration,
    /// Draw a progress bar.
    pub draw: bool,
}

/// Where the watched work stands.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub done: u64,
    pub total: Option<u64>,
    pub message: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Running,
    Succeeded,
    Failed(String),
}

/// Polls `target` until it ends; answers its last view, or exit 6 when it failed.
pub async fn wait(api: &mut Api, target: Target, watch: Watch) -> Result<Value, CliError> {
    let bar = progress_bar(watch.draw);
    let started = Instant::now();
    loop {
        let view = look(api, target).await?;
        let progress = read(target, &view);
        show(&bar, &progress);
        match progress.outcome {
            Outcome::Succeeded => {
                bar.finish_and_clear();
                return Ok(view);
            }
            Outcome::Failed(why) => {
                bar.abandon();
                return Err(CliError::new(Exit::WorkFailed, why));
            }
            Outcome::Running if started.elapsed() >= watch.timeout => {
                bar.abandon();
                let message = format!(
                    "still running after {}s (--timeout); it goes on without us",
                    watch.timeout.as_secs()
                );
                return Err(CliError::new(Exit::WorkFailed, message));
            }
            Outcome::Running => tokio::time::sleep(POLL_EVERY).await,
        }
    }
}

fn progress_bar(draw: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    if draw {
        bar.set_draw_target(ProgressDrawTarget::stderr());
        bar.enable_steady_tick(Duration::from_millis(120));
    }
    bar
}

fn show(bar: &ProgressBar, progress: &Progress) {
    if let Some(total) = progress.total
        && bar.length() != Some(total)
    {
        bar.set_length(total);
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        );
        if let Ok(style) = style {
            bar.set_style(style);
        }
    }
    bar.set_position(progress.done);
    bar.set_message(progress.message.clone());
}

/// One look at the target.
async fn look(api: &mut Api, target: Target) -> Result<Value, CliError> {
    match target {
        Target::Job(id) => api.call(&endpoints::job(id)).await,
        Target::MigrationRun(id) => api.call(&endpoints::migration_run(id)).await,
        Target::Backup { tenant, backup } => {
            let page = api.call(&endpoints::backups(tenant, None)).await?;
            Ok(find_item(&page, backup))
        }
        Target::ServerEmpty(id) => {
            let page = api.call(&endpoints::servers()).await?;
            Ok(find_item(&page, id))
        }
    }
}

/// The item of a page with `id` (`Null` when it is not there).
fn find_item(page: &Value, id: Uuid) -> Value {
    let id = id.to_string();
    page["items"]
        .as_array()
        .and_then(|items| items.iter().find(|item| item["id"] == id.as_str()))
        .cloned()
        .unwrap_or(Value::Null)
}

/// Where `view` (the target's last answer) says the work stands.
pub fn read(target: Target, view: &Value) -> Progress {
    match target {
        Target::Job(_) => job_progress(view),
        Target::MigrationRun(_) => run_progress(view),
        Target::Backup { .. } => backup_progress(view),
        Target::ServerEmpty(_) => server_progress(view),
    }
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// A job: steps done of its saga's steps.
pub fn job_progress(job: &Value) -> Progress {
    let total = match text(&job["kind"]) {
        "provision" => Some(provisioner::PROVISION_STEPS.len()),
        "delete" => Some(provisioner::DELETE_STEPS.len()),
        "role_limits" => Some(provisioner::ROLE_LIMITS_STEPS.len()),
        "reseal" => Some(provisioner::RESEAL_STEPS.len()),
        _ => None,
    };
    let done = job["completed_steps"].as_array().map_or(0, Vec::len);
    let state = text(&job["state"]);
    let outcome = match state {
        "succeeded" => Outcome::Succeeded,
        "failed" | "cancelled" => Outcome::Failed(format!(
            "job {} {state}: {}",
            text(&job["kind"]),
            job["last_error"].as_str().unwrap_or("no reason given")
        )),
        _ => Outcome::Running,
    };
    Progress {
        done: done as u64,
        total: total.map(|total| total as u64),
        message: format!("{state} {}", text(&job["current_step"]))
            .trim()
            .to_owned(),
        outcome,
    }
}

/// A migration run: tenants no longer pending of its total.
pub fn run_progress(run: &Value) -> Progress {
    let count = |key: &str| run[key].as_u64().unwrap_or(0);
    let total = count("total");
    let state = text(&run["state"]);
    let outcome = match state {
        "succeeded" => Outcome::Succeeded,
        "failed" | "halted" | "cancelled" => Outcome::Failed(format!(
            "migration run {state}: {} ({} succeeded, {} failed, {} pending)",
            run["halted_reason"].as_str().unwrap_or("no reason given"),
            count("succeeded"),
            count("failed"),
            count("pending")
        )),
        _ => Outcome::Running,
    };
    Progress {
        done: total.saturating_sub(count("pending")),
        total: Some(total),
        message: format!("{state}: {} failed", count("failed")),
        outcome,
    }
}

/// A backup: done or not (the list answers no finer progress).
pub fn backup_progress(backup: &Value) -> Progress {
    let state = text(&backup["state"]);
    let outcome = match state {
        "succeeded" | "completed" | "complete" | "done" | "available" => Outcome::Succeeded,
        "failed" | "cancelled" | "error" => Outcome::Failed(format!(
            "backup {state}: {}",
            backup["error"].as_str().unwrap_or("no reason given")
        )),
        _ => Outcome::Running,
    };
    Progress {
        done: 0,
        total: None,
        message: state.to_owned(),
        outcome,
    }
}

/// A draining server: done when it holds no live tenant.
pub fn server_progress(server: &Value) -> Progress {
    if server.is_null() {
        return Progress {
            done: 0,
            total: None,
            message: String::new(),
            outcome: Outcome::Failed("the server is no longer registered".into()),
        };
    }
    let left = server["tenants"].as_u64().unwrap_or(0);
    Progress {
        done: 0,
        total: None,
        message: format!("{left} tenants left on {}", text(&server["name"])),
        outcome: if left == 0 {
            Outcome::Succeeded
        } else {
            Outcome::Running
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_provisioning_job_counts_its_steps_and_fails_with_its_error() {
        let running = json!({"kind": "provision", "state": "running",
            "completed_steps": ["start", "place"], "current_step": "place"});
        let progress = job_progress(&running);
        assert_eq!((progress.done, progress.total), (2, Some(6)));
        assert_eq!(progress.outcome, Outcome::Running);
        let failed = json!({"kind": "provision", "state": "failed", "last_error": "no capacity"});
        assert_eq!(
            job_progress(&failed).outcome,
            Outcome::Failed("job provision failed: no capacity".into())
        );
        assert_eq!(
            job_progress(&json!({"kind": "delete", "state": "succeeded"})).outcome,
            Outcome::Succeeded
        );
    }

    #[test]
    fn a_halted_migration_run_fails_the_wait_with_its_reason() {
        let run = json!({"state": "halted", "total": 10, "pending": 4, "succeeded": 4,
            "failed": 2, "halted_reason": "too many failures"});
        let progress = run_progress(&run);
        assert_eq!((progress.done, progress.total), (6, Some(10)));
        let Outcome::Failed(why) = progress.outcome else {
            panic!("a halted run is a failure")
        };
        assert!(why.contains("too many failures"), "{why}");
        let queued = json!({"state": "queued", "total": 3, "pending": 3});
        assert_eq!(run_progress(&queued).outcome, Outcome::Running);
    }

    #[test]
    fn an_unknown_state_keeps_waiting() {
        assert_eq!(
            backup_progress(&json!({"state": "uploading"})).outcome,
            Outcome::Running
        );
        assert_eq!(
            job_progress(&json!({"state": "paused"})).outcome,
            Outcome::Running
        );
    }

    #[test]
    fn a_drained_server_is_done_when_empty() {
        let server = json!({"name": "pg-1", "tenants": 2});
        assert_eq!(server_progress(&server).outcome, Outcome::Running);
        let empty = json!({"name": "pg-1", "tenants": 0});
        assert_eq!(server_progress(&empty).outcome, Outcome::Succeeded);
        assert!(matches!(
            server_progress(&Value::Null).outcome,
            Outcome::Failed(_)
        ));
    }
}
