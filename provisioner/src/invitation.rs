//! The first admin's invitation: provisioning keeps the set-password token sealed on its
//! job (`admin_invite`); once the job has succeeded for a tenant an admin created (its
//! first admin is `invited`), the worker emails the link, then removes the token from the
//! job so it is sent once and kept nowhere.

use crate::ProvisionError;
use crate::jobs::{self, PayloadKey};
use base64::Engine as _;
use common::Secret;
use common::config::TenantOrigin;
use common::crypto::{CryptoError, Keyring, Sealed};
use common::entities::jobs as job_rows;
use common::mail::Mailer;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement};
use uuid::Uuid;

/// Who to invite to which tenant.
struct Invitee {
    slug: String,
    name: String,
    email: String,
}

/// Keeps the first admin's token on job `job_id`, sealed (bound to the job's id).
pub(crate) async fn store(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    job_id: Uuid,
    token: &str,
) -> Result<(), ProvisionError> {
    let sealed = keyring.seal_str(token, job_id.as_bytes())?;
    let invite = serde_json::json!({
        "key_id": sealed.key_id,
        "ciphertext": base64::engine::general_purpose::STANDARD.encode(&sealed.ciphertext),
    });
    jobs::set_in_payload(db, job_id, PayloadKey::AdminInvite, invite).await?;
    Ok(())
}

/// The first admin's set-password token of a provisioning job, for whoever sends the
/// invitation (`None` until the seed step has run, and after the invitation was sent).
pub async fn admin_invite(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    job_id: Uuid,
) -> Result<Option<Secret>, ProvisionError> {
    let Some(job) = job_rows::Entity::find_by_id(job_id).one(db).await? else {
        return Ok(None);
    };
    let invite = jobs::payload_value(&job, PayloadKey::AdminInvite);
    let (Some(key_id), Some(encoded)) = (invite["key_id"].as_str(), invite["ciphertext"].as_str())
    else {
        return Ok(None);
    };
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| CryptoError::Decrypt)?;
    let sealed = Sealed {
        key_id: key_id.to_owned(),
        ciphertext,
    };
    Ok(Some(keyring.open_str(&sealed, job_id.as_bytes())?))
}

/// Sends the invitation of job `job_id`, if it carries one, with a link on the tenant
/// runtime's `origin`.
pub(crate) async fn send(
    db: &DatabaseConnection,
    keyring: &Keyring,
    mailer: &Mailer,
    origin: &TenantOrigin,
    job_id: Uuid,
) -> Result<bool, ProvisionError> {
    let Some(token) = admin_invite(db, keyring, job_id).await? else {
        return Ok(false);
    };
    let Some(invitee) = invitee(db, job_id).await? else {
        return Ok(false);
    };
    let link = origin.set_password_link(&invitee.slug, token.expose());
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
    jobs::remove_from_payload(db, job_id, PayloadKey::AdminInvite).await?;
    Ok(true)
}

async fn invitee(db: &DatabaseConnection, job_id: Uuid) -> Result<Option<Invitee>, DbErr> {
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
