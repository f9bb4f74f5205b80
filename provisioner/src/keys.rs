//! Every kind of secret the control database keeps sealed (see [`common::crypto`]), where
//! it lives and which row id binds it (the sealing context), and how many of each kind
//! every key id seals: what an operator watches while a key rotation's `reseal` job runs.
//! Adding a sealed column means adding a [`SecretKind`] here, so the re-seal job and the
//! counts cannot forget it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};
use serde::Serialize;

/// A kind of sealed secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretKind {
    /// `tenants.db_password_*`, bound to the tenant's id.
    TenantDbPassword,
    /// `database_servers.admin_url_*`, bound to the server's id.
    ServerAdminUrl,
    /// `admin_users.totp_*`, bound to the admin's id.
    AdminTotpSecret,
    /// A first admin's set-password token waiting on its provisioning job
    /// (`jobs.payload.admin_invite`, base64), bound to the job's id.
    AdminInvite,
}

impl SecretKind {
    pub const ALL: [Self; 4] = [
        Self::TenantDbPassword,
        Self::ServerAdminUrl,
        Self::AdminTotpSecret,
        Self::AdminInvite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TenantDbPassword => "tenant_db_password",
            Self::ServerAdminUrl => "server_admin_url",
            Self::AdminTotpSecret => "admin_totp_secret",
            Self::AdminInvite => "admin_invite",
        }
    }

    /// A query of every secret of this kind as `(id, key_id, ciphertext)`, `id` being the
    /// sealing context.
    pub(crate) fn rows(self) -> &'static str {
        match self {
            Self::TenantDbPassword => {
                "SELECT id, db_password_key_id AS key_id, db_password_ciphertext AS ciphertext \
                 FROM tenants WHERE db_password_key_id IS NOT NULL \
                 AND db_password_ciphertext IS NOT NULL"
            }
            Self::ServerAdminUrl => {
                "SELECT id, admin_url_key_id AS key_id, admin_url_ciphertext AS ciphertext \
                 FROM database_servers"
            }
            Self::AdminTotpSecret => {
                "SELECT id, totp_key_id AS key_id, totp_secret_ciphertext AS ciphertext \
                 FROM admin_users WHERE totp_key_id IS NOT NULL \
                 AND totp_secret_ciphertext IS NOT NULL"
            }
            Self::AdminInvite => {
                "SELECT id, payload->'admin_invite'->>'key_id' AS key_id, \
                 decode(payload->'admin_invite'->>'ciphertext', 'base64') AS ciphertext \
                 FROM jobs WHERE payload->'admin_invite' IS NOT NULL"
            }
        }
    }

    /// Replaces one secret: `$1` id, `$2` new ciphertext, `$3` new key id, `$4` the
    /// ciphertext read, which must still be there (a concurrent writer wins).
    pub(crate) fn replace(self) -> &'static str {
        match self {
            Self::TenantDbPassword => {
                "UPDATE tenants SET db_password_ciphertext = $2, db_password_key_id = $3 \
                 WHERE id = $1 AND db_password_ciphertext = $4"
            }
            Self::ServerAdminUrl => {
                "UPDATE database_servers SET admin_url_ciphertext = $2, admin_url_key_id = $3 \
                 WHERE id = $1 AND admin_url_ciphertext = $4"
            }
            Self::AdminTotpSecret => {
                "UPDATE admin_users SET totp_secret_ciphertext = $2, totp_key_id = $3 \
                 WHERE id = $1 AND totp_secret_ciphertext = $4"
            }
            // Postgres' base64 breaks lines every 76 characters; the payload's has none.
            Self::AdminInvite => {
                "UPDATE jobs SET payload = jsonb_set(payload, '{admin_invite}', \
                   jsonb_build_object('key_id', $3::text, \
                     'ciphertext', translate(encode($2, 'base64'), E'\\n', ''))) \
                 WHERE id = $1 \
                 AND payload->'admin_invite'->>'ciphertext' = translate(encode($4, 'base64'), E'\\n', '')"
            }
        }
    }
}

/// How many secrets of one kind a key seals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyUsage {
    pub key_id: String,
    pub kind: SecretKind,
    pub count: i64,
}

/// How many secrets of each kind each key id seals (kinds and keys with none are absent).
pub async fn usage(db: &impl ConnectionTrait) -> Result<Vec<KeyUsage>, DbErr> {
    let mut usage = Vec::new();
    for kind in SecretKind::ALL {
        let sql = format!(
            "SELECT key_id, count(*) AS count FROM ({}) s GROUP BY key_id ORDER BY key_id",
            kind.rows()
        );
        let rows = db
            .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await?;
        for row in rows {
            usage.push(KeyUsage {
                key_id: row.try_get("", "key_id")?,
                kind,
                count: row.try_get("", "count")?,
            });
        }
    }
    Ok(usage)
}

/// How many secrets any of `key_ids` seals.
pub(crate) async fn sealed_under(
    db: &impl ConnectionTrait,
    key_ids: &[String],
) -> Result<i64, DbErr> {
    let usage = usage(db).await?;
    Ok(usage
        .iter()
        .filter(|entry| key_ids.contains(&entry.key_id))
        .map(|entry| entry.count)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_distinct_name() {
        let mut names: Vec<_> = SecretKind::ALL.iter().map(|kind| kind.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), SecretKind::ALL.len());
    }
}
