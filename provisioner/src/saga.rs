//! The job runner: claims one job, runs its steps in order, records each as it completes,
//! and decides what a failure means (retry later, or compensate and fail). A crash at any
//! point leaves a job whose lease expires and whose completed steps are skipped when
//! another worker resumes it; every step is idempotent, so a step that ran but was not
//! recorded simply runs again.

use crate::jobs::{self, JobKind};
use crate::provisioner::Provisioner;
use crate::steps::StepError;
use common::entities::jobs as job_rows;
use sea_orm::DbErr;
use tracing::Instrument as _;
use uuid::Uuid;

/// The provisioning saga's steps, in order (as recorded in `jobs.completed_steps`).
pub const PROVISION_STEPS: [&str; 6] = [
    "start",
    "place",
    "create_role",
    "create_database",
    "grant_and_seed",
    "activate",
];

/// The delete saga's steps, in order.
pub const DELETE_STEPS: [&str; 5] = [
    "wait_for_other_jobs",
    "backup",
    "drop_database",
    "drop_role",
    "finish",
];

/// The backup job's one step.
pub const BACKUP_STEPS: [&str; 1] = ["dump"];

/// The restore saga's steps, in order.
pub const RESTORE_STEPS: [&str; 5] = ["check_backup", "build_copy", "verify", "freeze", "switch"];

/// The relocation saga's steps, in order.
pub const RELOCATE_STEPS: [&str; 4] = ["prepare_target", "freeze", "copy", "switch"];

/// What one call of [`Provisioner::try_execute_job`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// No job was due.
    Idle,
    /// The job ended (`succeeded`, `failed` or `cancelled`).
    Finished { job_id: Uuid, state: &'static str },
    /// A transient error: the job is queued again with backoff.
    Retrying { job_id: Uuid, error: String },
    /// A fail point fired: the job is left as a dead worker would leave it.
    Crashed { job_id: Uuid, step: String },
    /// Another worker took the job over while this one worked on it.
    LostLease { job_id: Uuid },
}

impl Provisioner {
    /// Test hook (feature `fail-points`): the next time step `step` has done its work (before
    /// it is recorded), act as if the process died there.
    /// Panics on a step no saga has, so a renamed step cannot silently disarm a test.
    #[cfg(feature = "fail-points")]
    pub fn crash_at(&self, step: &str) {
        assert!(
            [
                &PROVISION_STEPS[..],
                &DELETE_STEPS,
                &BACKUP_STEPS,
                &RESTORE_STEPS,
                &RELOCATE_STEPS,
                &crate::ROLE_LIMITS_STEPS,
                &crate::RESEAL_STEPS,
            ]
            .iter()
            .any(|steps| steps.contains(&step)),
            "no saga has a step `{step}`"
        );
        if let Ok(mut point) = self.fail_point.lock() {
            *point = Some(step.to_owned());
        }
    }

    /// Fires the fail point named `step` once, if armed.
    pub(crate) fn fail_point(&self, step: &str) -> Result<(), StepError> {
        let Ok(mut point) = self.fail_point.lock() else {
            return Ok(());
        };
        if point.as_deref() == Some(step) {
            *point = None;
            return Err(StepError::Crash(step.to_owned()));
        }
        Ok(())
    }

    /// Claims and runs one due job, if any. Only control-database errors escape; everything
    /// else is recorded on the job.
    pub async fn try_execute_job(&self) -> Result<Executed, DbErr> {
        let Some(job) = jobs::claim(
            &self.control_db,
            &self.worker_id,
            self.lease,
            jobs::Lane::Sagas,
        )
        .await?
        else {
            return Ok(Executed::Idle);
        };
        let span =
            tracing::info_span!("job", id = %job.id, kind = %job.kind, tenant = ?job.tenant_id);
        common::trace_context::continue_from(&span, job.traceparent.as_deref());
        let started = std::time::Instant::now();
        let executed = self.run_claimed(&job).instrument(span).await?;
        record_outcome(&job.kind, &executed, started.elapsed());
        Ok(executed)
    }

    /// Runs a claimed saga job and records how it ended.
    async fn run_claimed(&self, job: &job_rows::Model) -> Result<Executed, DbErr> {
        let outcome = match (JobKind::parse(&job.kind), job.tenant_id) {
            (Some(JobKind::Provision), Some(tenant)) => self.provision(job, tenant).await,
            (Some(JobKind::Delete), Some(tenant)) => self.delete(job, tenant).await,
            (Some(JobKind::StripeCustomer), Some(tenant)) => {
                self.stripe_customer(job, tenant).await
            }
            (Some(JobKind::RoleLimits), Some(tenant)) => self.role_limits(job, tenant).await,
            (Some(JobKind::Reseal), None) => self.reseal(job).await,
            (Some(JobKind::Backup), Some(tenant)) => self.backup(job, tenant).await,
            (Some(JobKind::Restore), Some(tenant)) => self.restore(job, tenant).await,
            (Some(JobKind::Relocate), Some(tenant)) => self.relocate(job, tenant).await,
            _ => Err(StepError::Permanent(format!(
                "unsupported job `{}`",
                job.kind
            ))),
        };
        self.settle(job, outcome).await
    }

    /// Records how the job ended.
    pub(crate) async fn settle(
        &self,
        job: &job_rows::Model,
        outcome: Result<(), StepError>,
    ) -> Result<Executed, DbErr> {
        let job_id = job.id;
        let worker = self.worker_id.as_str();
        let db = &self.control_db;
        match outcome {
            Ok(()) => finished(
                jobs::finish(db, job, worker, "succeeded", None).await?,
                job_id,
                "succeeded",
            ),
            Err(StepError::Cancelled) => {
                self.on_cancel(job).await?;
                finished(
                    jobs::finish(db, job, worker, "cancelled", None).await?,
                    job_id,
                    "cancelled",
                )
            }
            Err(StepError::LostLease) => Ok(Executed::LostLease { job_id }),
            Err(StepError::Crash(step)) => Ok(Executed::Crashed { job_id, step }),
            Err(StepError::Transient(error)) if job.attempts < job.max_attempts => {
                tracing::warn!(
                    attempt = job.attempts,
                    "job step failed, will retry: {error}"
                );
                jobs::retry_later(db, job, worker, &error, jobs::backoff(job.attempts)).await?;
                Ok(Executed::Retrying { job_id, error })
            }
            Err(StepError::Transient(error) | StepError::Permanent(error)) => {
                tracing::error!("job failed: {error}");
                self.compensate(job, &error).await?;
                finished(
                    jobs::finish(db, job, worker, "failed", Some(&error)).await?,
                    job_id,
                    "failed",
                )
            }
        }
    }

    /// Undoes a job that gave up: a provision drops what it made, a backup records why it
    /// failed, a restore or relocation drops its target and thaws the tenant unless it
    /// already switched.
    async fn compensate(&self, job: &job_rows::Model, error: &str) -> Result<(), DbErr> {
        match (JobKind::parse(&job.kind), job.tenant_id) {
            (Some(JobKind::Provision), Some(tenant)) => self.undo_provision(tenant, error).await,
            (Some(JobKind::Backup), _) => self.fail_backup(job, error).await,
            (Some(JobKind::Restore | JobKind::Relocate), _) => self.abandon_move(job).await,
            _ => Ok(()),
        }
    }

    /// What a job stopped by its tenant's deletion leaves: a cancelled provision is cleaned
    /// up by the delete job; a move must still thaw the tenant and drop its target.
    async fn on_cancel(&self, job: &job_rows::Model) -> Result<(), DbErr> {
        match JobKind::parse(&job.kind) {
            Some(JobKind::Backup) => self.fail_backup(job, "cancelled").await,
            Some(JobKind::Restore | JobKind::Relocate) => self.abandon_move(job).await,
            _ => Ok(()),
        }
    }

    /// Runs `step` unless already recorded for this job, then records it (renewing the
    /// lease). The fail point for `step` fires between the work and the record.
    pub(crate) async fn step<F, Fut>(
        &self,
        job: &job_rows::Model,
        step: &str,
        work: F,
    ) -> Result<(), StepError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), StepError>>,
    {
        if jobs::step_done(job, step) {
            return Ok(());
        }
        work().await?;
        self.fail_point(step)?;
        let still_ours =
            jobs::complete_step(&self.control_db, job, &self.worker_id, step, self.lease).await?;
        if still_ours {
            tracing::debug!(step, "step done");
            Ok(())
        } else {
            Err(StepError::LostLease)
        }
    }
}

/// `provisioner_jobs_total{kind, outcome}` and `provisioner_job_duration_seconds{kind,
/// outcome}` for one run of a job (outcome: `succeeded`, `failed`, `cancelled`, `retrying`,
/// `lost_lease`, `crashed`).
fn record_outcome(kind: &str, executed: &Executed, took: std::time::Duration) {
    let outcome = match executed {
        Executed::Idle => return,
        Executed::Finished { state, .. } => *state,
        Executed::Retrying { .. } => "retrying",
        Executed::Crashed { .. } => "crashed",
        Executed::LostLease { .. } => "lost_lease",
    };
    common::metrics::handle();
    let labels = [("kind", kind.to_owned()), ("outcome", outcome.to_owned())];
    metrics::counter!("provisioner_jobs_total", &labels).increment(1);
    metrics::histogram!("provisioner_job_duration_seconds", &labels).record(took.as_secs_f64());
}

fn finished(still_ours: bool, job_id: Uuid, state: &'static str) -> Result<Executed, DbErr> {
    Ok(if still_ours {
        Executed::Finished { job_id, state }
    } else {
        Executed::LostLease { job_id }
    })
}
