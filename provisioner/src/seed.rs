//! What a new tenant database starts with: the permission catalogue, the default roles
//! (`admin`, `manager`, `staff`, `viewer`) and the first admin user, invited with a
//! set-password token. Every insert is `ON CONFLICT DO NOTHING`, so seeding twice (a
//! resumed job) changes nothing.

use common::tokens::hash_opaque;
use tokio_postgres::Transaction;

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
    ("quality", &["read", "write", "release"]),
    ("approvals", &["read", "decide"]),
    ("billing", &["manage"]),
];

/// Administration areas only `admin` may change.
const ADMIN_AREAS: &[&str] = &["users", "roles", "settings", "billing"];

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
            "Everything, including users, roles, settings and billing",
            codes(&|_, _| true),
        ),
        (
            "manager",
            "Every ERP module and the audit log; reads users and roles",
            codes(&|m, a| !ADMIN_AREAS.contains(&m) || a == "read"),
        ),
        (
            "staff",
            "Reads and writes the ERP modules (but releases no quarantined lot)",
            codes(&|m, a| !ADMIN_AREAS.contains(&m) && m != "audit" && a != "release"),
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
    InviteToken::from_token(common::tokens::new_opaque_token())
}

impl InviteToken {
    /// An existing token, with its hash.
    pub fn from_token(token: String) -> Self {
        Self {
            hash: hash_opaque(&token),
            token,
        }
    }
}

/// Seeds the tenant database (as the server admin, inside the caller's transaction) with
/// a handful of set-based statements: one round trip per table, not per row.
pub async fn seed(
    tenant_db: &Transaction<'_>,
    admin_email: &str,
    first_admin: &FirstAdmin,
) -> Result<(), tokio_postgres::Error> {
    let (codes, descriptions): (Vec<String>, Vec<String>) = PERMISSIONS
        .iter()
        .flat_map(|(module, actions)| {
            actions
                .iter()
                .map(move |action| (format!("{module}.{action}"), format!("{action} {module}")))
        })
        .unzip();
    tenant_db
        .execute(
            "INSERT INTO permissions (code, description) \
             SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT (code) DO NOTHING",
            &[&codes, &descriptions],
        )
        .await?;
    seed_roles(tenant_db).await?;
    seed_first_admin(tenant_db, admin_email, first_admin).await
}

async fn seed_roles(tenant_db: &Transaction<'_>) -> Result<(), tokio_postgres::Error> {
    let roles = default_roles();
    let ids: Vec<uuid::Uuid> = roles.iter().map(|_| uuid::Uuid::now_v7()).collect();
    let names: Vec<&str> = roles.iter().map(|(name, _, _)| *name).collect();
    let descriptions: Vec<&str> = roles
        .iter()
        .map(|(_, description, _)| *description)
        .collect();
    tenant_db
        .execute(
            "INSERT INTO roles (id, name, description, is_system) \
             SELECT id, name, description, true \
             FROM unnest($1::uuid[], $2::text[], $3::text[]) AS r(id, name, description) \
             ON CONFLICT (name) DO NOTHING",
            &[&ids, &names, &descriptions],
        )
        .await?;
    let (role_names, codes): (Vec<&str>, Vec<&str>) = roles
        .iter()
        .flat_map(|(name, _, codes)| codes.iter().map(move |code| (*name, code.as_str())))
        .unzip();
    tenant_db
        .execute(
            "INSERT INTO role_permissions (role_id, permission_code) \
             SELECT r.id, p.code FROM unnest($1::text[], $2::text[]) AS p(role, code) \
             JOIN roles r ON r.name = p.role ON CONFLICT DO NOTHING",
            &[&role_names, &codes],
        )
        .await?;
    Ok(())
}

/// How the first admin of a tenant gets in.
pub enum FirstAdmin {
    /// Invited: sets a password with the emailed token.
    Invited(InviteToken),
    /// Chose a password at signup (its argon2id PHC hash): active at once.
    WithPassword(String),
}

async fn seed_first_admin(
    tenant_db: &Transaction<'_>,
    email: &str,
    first_admin: &FirstAdmin,
) -> Result<(), tokio_postgres::Error> {
    let (status, password_hash, token_hash) = match first_admin {
        FirstAdmin::Invited(invite) => ("invited", None, Some(invite.hash.as_str())),
        FirstAdmin::WithPassword(hash) => ("active", Some(hash.as_str()), None),
    };
    tenant_db
        .execute(
            "WITH admin AS ( \
               INSERT INTO users (id, email, status, password_hash, set_password_token_hash, \
                                  set_password_expires_at) \
               VALUES ($1, $2, $3, $4, $5, CASE WHEN $5::text IS NOT NULL \
                                              THEN now() + interval '7 days' END) \
               ON CONFLICT ((lower(email))) DO NOTHING RETURNING id) \
             INSERT INTO user_roles (user_id, role_id) \
             SELECT admin.id, r.id FROM admin, roles r WHERE r.name = 'admin' ON CONFLICT DO NOTHING",
            &[&uuid::Uuid::now_v7(), &email, &status, &password_hash, &token_hash],
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
    fn admin_and_manager_release_quarantined_lots_and_staff_does_not() {
        let roles = default_roles();
        for (name, _, codes) in &roles {
            let releases = codes.contains(&"quality.release".to_owned());
            assert_eq!(releases, ["admin", "manager"].contains(name), "{name}");
        }
    }

    #[test]
    fn only_admin_manages_billing() {
        let roles = default_roles();
        for (name, _, codes) in &roles {
            let manages = codes.contains(&"billing.manage".to_owned());
            assert_eq!(manages, *name == "admin", "{name}");
        }
    }

    #[test]
    fn an_invite_token_is_stored_only_as_its_hash() {
        let invite = new_invite_token();
        assert!(invite.token.len() >= 43);
        assert_eq!(invite.hash, hash_opaque(&invite.token));
        assert_ne!(invite.hash, invite.token);
        assert_ne!(new_invite_token().token, invite.token);
    }
}
