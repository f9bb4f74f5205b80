//! The `reseal` job: after an encryption-key rotation (a new current key, the old one
//! kept as a previous key), seals every secret still under a previous key again under the
//! current one, so the old key can be retired. The worker queues it (deduplicated) at
//! start and every maintenance interval while any secret is under a previous key.
//!
//! One step per [`SecretKind`], each in batches walked by id. Each row is replaced only
//! if its ciphertext is still the one read, so a concurrent writer (who seals under the
//! current key anyway) is never overwritten. Progress is durable row by row: a job
//! interrupted anywhere resumes by finding what is still under an old key.

use crate::jobs::{self, JobKind};
use crate::keys::{self, SecretKind};
use crate::provisioner::Provisioner;
use crate::steps::StepError;
use common::crypto::{Keyring, Sealed};
use common::entities::jobs as job_rows;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use uuid::Uuid;

/// The `reseal` job's steps: one per kind of secret ([`SecretKind::as_str`]).
pub const RESEAL_STEPS: [&str; 4] = [
    "tenant_db_password",
    "server_admin_url",
    "admin_totp_secret",
    "admin_invite",
];

/// Rows re-sealed between two lease renewals.
const BATCH: i64 = 100;

/// One sealed secret as read.
struct SealedRow {
    id: Uuid,
    sealed: Sealed,
}

/// Queues a `reseal` job when some secret is under a previous key and none is queued
/// yet. `true` when one was queued. After a job that failed (a secret that does not open
/// stays under its old key) it waits [`AFTER_FAILURE`] before trying again, so a broken
/// secret does not add a failed job every maintenance interval.
pub(crate) async fn queue_if_needed(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
) -> Result<bool, DbErr> {
    let previous = keyring.previous_ids();
    if previous.is_empty()
        || keys::sealed_under(db, &previous).await? == 0
        || failed_recently(db).await?
    {
        return Ok(false);
    }
    Ok(jobs::enqueue_once(db, JobKind::Reseal, None)
        .await?
        .is_some())
}

/// How long after a failed `reseal` job no other is queued by itself.
const AFTER_FAILURE: &str = "1 hour";

async fn failed_recently(db: &impl ConnectionTrait) -> Result<bool, DbErr> {
    let sql = format!(
        "SELECT 1 AS failed FROM jobs WHERE kind = 'reseal' AND state = 'failed' \
         AND finished_at > now() - interval '{AFTER_FAILURE}' LIMIT 1"
    );
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await?;
    Ok(row.is_some())
}

impl Provisioner {
    /// Queues a `reseal` job if some secret needs one (see [`queue_if_needed`]).
    pub async fn queue_reseal_if_needed(&self) -> Result<bool, DbErr> {
        queue_if_needed(&self.control_db, &self.keyring).await
    }

    pub(crate) async fn reseal(&self, job: &job_rows::Model) -> Result<(), StepError> {
        let mut unopened = 0;
        for kind in SecretKind::ALL {
            let unopened = &mut unopened;
            self.step(job, kind.as_str(), || async move {
                *unopened += self.reseal_kind(job, kind).await?;
                Ok(())
            })
            .await?;
        }
        if unopened > 0 {
            // Tampered, or bound to another row: nothing a retry can change.
            return Err(StepError::Permanent(format!(
                "{unopened} secrets under a previous key did not open; they were left as they are"
            )));
        }
        Ok(())
    }

    /// Re-seals every secret of `kind` under a previous key; answers how many did not open.
    async fn reseal_kind(&self, job: &job_rows::Model, kind: SecretKind) -> Result<u64, StepError> {
        let previous = serde_json::json!(self.keyring.previous_ids());
        let (mut after, mut unopened, mut resealed) = (Uuid::nil(), 0, 0);
        loop {
            let rows = batch(&self.control_db, kind, &previous, after).await?;
            let Some(last) = rows.last() else { break };
            after = last.id;
            for row in &rows {
                match self.reseal_row(kind, row).await? {
                    true => resealed += 1,
                    false => unopened += 1,
                }
            }
            let lease = self.lease;
            if !jobs::renew_lease(&self.control_db, job, &self.worker_id, lease).await? {
                return Err(StepError::LostLease);
            }
        }
        tracing::info!(
            kind = kind.as_str(),
            resealed,
            unopened,
            "secrets re-sealed"
        );
        Ok(unopened)
    }

    /// Seals one secret under the current key, unless it changed since it was read.
    /// `false` when it does not open.
    async fn reseal_row(&self, kind: SecretKind, row: &SealedRow) -> Result<bool, DbErr> {
        let context = row.id.as_bytes();
        let Ok(plaintext) = self.keyring.open(&row.sealed, context) else {
            tracing::error!(kind = kind.as_str(), id = %row.id, key = %row.sealed.key_id,
                "a sealed secret does not open with its key");
            return Ok(false);
        };
        let Ok(fresh) = self.keyring.seal(&plaintext, context) else {
            return Ok(false);
        };
        let replaced = self
            .control_db
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                kind.replace(),
                [
                    row.id.into(),
                    fresh.ciphertext.into(),
                    fresh.key_id.into(),
                    row.sealed.ciphertext.clone().into(),
                ],
            ))
            .await?;
        if replaced.rows_affected() == 0 {
            tracing::debug!(kind = kind.as_str(), id = %row.id, "changed meanwhile; left to its writer");
        }
        Ok(true)
    }
}

/// The next secrets of `kind` under one of `key_ids` (a JSON array), by id after `after`.
async fn batch(
    db: &impl ConnectionTrait,
    kind: SecretKind,
    key_ids: &serde_json::Value,
    after: Uuid,
) -> Result<Vec<SealedRow>, DbErr> {
    let sql = format!(
        "SELECT id, key_id, ciphertext FROM ({}) s \
         WHERE key_id IN (SELECT jsonb_array_elements_text($1::jsonb)) AND id > $2 \
         ORDER BY id LIMIT $3",
        kind.rows()
    );
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            [key_ids.clone().into(), after.into(), BATCH.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(SealedRow {
                id: row.try_get("", "id")?,
                sealed: Sealed {
                    key_id: row.try_get("", "key_id")?,
                    ciphertext: row.try_get("", "ciphertext")?,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_steps_are_the_secret_kinds() {
        let kinds: Vec<_> = SecretKind::ALL.iter().map(|kind| kind.as_str()).collect();
        assert_eq!(kinds, RESEAL_STEPS);
    }
}
