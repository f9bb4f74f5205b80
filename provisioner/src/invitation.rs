//! The first admin's invitation: once a provisioning job has succeeded for a tenant an
//! admin created (its first admin is `invited`), the worker emails the set-password link
//! sealed on the job, then removes it from the job so it is sent once and kept nowhere.

use crate::ProvisionError;
use crate::provision::admin_invite;
use common::crypto::Keyring;
use common::mail::Mailer;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

/// Who to invite to which tenant.
struct Invitee {
    slug: String,
    name: String,
    email: String,
}

/// Sends the invitation of job `job_id`, if it carries one. `origin` is `(scheme, host)`
/// of the tenant runtime (`{scheme}://{slug}.{host}`).
pub async fn send(
    db: &DatabaseConnection,
    keyring: &Keyring,
    mailer: &Mailer,
    origin: &(String, String),
    job_id: Uuid,
) -> Result<bool, ProvisionError> {
    let Some(token) = admin_invite(db, keyring, job_id).await? else {
        return Ok(false);
    };
    let Some(invitee) = invitee(db, job_id).await? else {
        return Ok(false);
    };
    let (scheme, host) = origin;
    let link = format!(
        "{scheme}://{}.{host}/set-password?token={}",
        invitee.slug,
        token.expose()
    );
    let body = format!(
        "{} is ready on the ERP, and you are its administrator.\n\n\
         Choose your password within a week:\n{link}\n",
        invitee.name
    );
    if let Err(error) = mailer
        .send(
            &invitee.email,
            &format!("Your {} ERP is ready", invitee.name),
            body,
        )
        .await
    {
        // Kept on the job: an operator can read it back and resend.
        tracing::error!(error = format!("{error:#}"), %job_id, "sending the invitation failed");
        return Ok(false);
    }
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE jobs SET payload = payload - 'admin_invite' WHERE id = $1",
        [job_id.into()],
    ))
    .await?;
    Ok(true)
}

async fn invitee(db: &DatabaseConnection, job_id: Uuid) -> Result<Option<Invitee>, ProvisionError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT t.slug, t.name, t.admin_email FROM jobs j JOIN tenants t ON t.id = j.tenant_id \
             WHERE j.id = $1 AND j.state = 'succeeded'",
            [job_id.into()],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Invitee {
        slug: row.try_get("", "slug")?,
        name: row.try_get("", "name")?,
        email: row.try_get("", "admin_email")?,
    }))
}
