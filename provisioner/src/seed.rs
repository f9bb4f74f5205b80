//! What a new tenant database starts with: the permission catalogue, the default roles
//! (`admin`, `manager`, `staff`, `viewer`) and the first admin user, invited with a
//! set-password token. Every insert is `ON CONFLICT DO NOTHING`, so seeding twice (a
//! resumed job) changes nothing.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio_postgres::Client;

/// ERP modules and the platform's own areas, each with its actions.
const PERMISSIONS: &[(&str, &[&str])] = &[
    ("users", &["read", "manage"]),
    ("roles", &["read", "manage"]),
    ("settings", &["read", "manage"]),
    ("audit", &["read"]),
    ("master_data", &["read", "write"]),
    ("inventory", &["read", "write"]),
    ("sales", &["read", "write"]),
    ("purchasing", &["read", "write"]),
    ("production", &["read", "write"]),
    ("quality", &["read", "write"]),
    ("approvals", &["read", "decide"]),
];

/// Administration areas only `admin` may change.
const ADMIN_AREAS: &[&str] = &["users", "roles", "settings"];

/// A default role and the permission codes it gets.
fn default_roles() -> Vec<(&'static str, &'static str, Vec<String>)> {
    let all = || {
        PERMISSIONS
            .iter()
            .flat_map(|(module, actions)| actions.iter().map(move |a| (*module, *a)))
    };
    let codes = |keep: &dyn Fn(&str, &str) -> bool| {
        all()
            .filter(|(m, a)| keep(m, a))
            .map(|(m, a)| format!("{m}.{a}"))
            .collect()
    };
    vec![
        (
            "admin",
            "Everything, including users, roles and settings",
            codes(&|_, _| true),
        ),
        (
            "manager",
            "Every ERP module and the audit log; reads users and roles",
            codes(&|m, a| !ADMIN_AREAS.contains(&m) || a == "read"),
        ),
        (
            "staff",
            "Reads and writes the ERP modules",
            codes(&|m, _| !ADMIN_AREAS.contains(&m) && m != "audit"),
        ),
        (
            "viewer",
            "Reads the ERP modules",
            codes(&|m, a| !ADMIN_AREAS.contains(&m) && m != "audit" && a == "read"),
        ),
    ]
}

/// A one-time token for the first admin to set a password: the token itself (sent to the
/// admin) and its SHA-256 (the only thing stored).
pub struct InviteToken {
    pub token: String,
    pub hash: String,
}

pub fn new_invite_token() -> InviteToken {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    InviteToken::from_token(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

impl InviteToken {
    /// An existing token, with its hash.
    pub fn from_token(token: String) -> Self {
        Self {
            hash: hash_token(&token),
            token,
        }
    }
}

pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Seeds the tenant database (connected as the server admin).
pub async fn seed(
    tenant_db: &Client,
    admin_email: &str,
    invite: &InviteToken,
) -> Result<(), tokio_postgres::Error> {
    for (module, actions) in PERMISSIONS {
        for action in *actions {
            tenant_db
                .execute(
                    "INSERT INTO permissions (code, description) VALUES ($1, $2) \
                     ON CONFLICT (code) DO NOTHING",
                    &[&format!("{module}.{action}"), &format!("{action} {module}")],
                )
                .await?;
        }
    }
    for (name, description, codes) in default_roles() {
        seed_role(tenant_db, name, description, &codes).await?;
    }
    seed_first_admin(tenant_db, admin_email, invite).await
}

async fn seed_role(
    tenant_db: &Client,
    name: &str,
    description: &str,
    codes: &[String],
) -> Result<(), tokio_postgres::Error> {
    tenant_db
        .execute(
            "INSERT INTO roles (id, name, description, is_system) VALUES ($1, $2, $3, true) \
             ON CONFLICT (name) DO NOTHING",
            &[&uuid::Uuid::now_v7(), &name, &description],
        )
        .await?;
    tenant_db
        .execute(
            "INSERT INTO role_permissions (role_id, permission_code) \
             SELECT r.id, p FROM roles r, unnest($2::text[]) AS p WHERE r.name = $1 \
             ON CONFLICT DO NOTHING",
            &[&name, &codes],
        )
        .await?;
    Ok(())
}

async fn seed_first_admin(
    tenant_db: &Client,
    email: &str,
    invite: &InviteToken,
) -> Result<(), tokio_postgres::Error> {
    tenant_db
        .execute(
            "INSERT INTO users (id, email, status, set_password_token_hash, set_password_expires_at) \
             VALUES ($1, $2, 'invited', $3, now() + interval '7 days') \
             ON CONFLICT ((lower(email))) DO NOTHING",
            &[&uuid::Uuid::now_v7(), &email, &invite.hash],
        )
        .await?;
    tenant_db
        .execute(
            "INSERT INTO user_roles (user_id, role_id) \
             SELECT u.id, r.id FROM users u, roles r \
             WHERE lower(u.email) = lower($1) AND r.name = 'admin' ON CONFLICT DO NOTHING",
            &[&email],
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_has_every_permission_and_viewer_only_reads() {
        let roles = default_roles();
        let total: usize = PERMISSIONS.iter().map(|(_, actions)| actions.len()).sum();
        let get = |name| &roles.iter().find(|(n, _, _)| *n == name).unwrap().2;
        assert_eq!(get("admin").len(), total);
        assert!(get("viewer").iter().all(|code| code.ends_with(".read")));
        assert!(!get("viewer").contains(&"audit.read".to_owned()));
        assert!(!get("staff").iter().any(|code| code.starts_with("users.")));
        assert!(get("manager").contains(&"users.read".to_owned()));
        assert!(!get("manager").contains(&"users.manage".to_owned()));
    }

    #[test]
    fn an_invite_token_is_stored_only_as_its_hash() {
        let invite = new_invite_token();
        assert!(invite.token.len() >= 43);
        assert_eq!(invite.hash, hash_token(&invite.token));
        assert_ne!(invite.hash, invite.token);
        assert_ne!(new_invite_token().token, invite.token);
    }
}
