//! `GET /api/v1/keys`: the encryption keys the control plane knows (the current one and
//! previous ones kept for opening) and how many secrets of each kind every key id seals,
//! so an operator can watch a rotation's `reseal` job finish before retiring the old key.
//! Key ids found in the database but not configured are listed too (`configured: false`):
//! those secrets cannot be opened.

use crate::auth::guard::{Authorized, perm};
use crate::state::AppState;
use actix_web::web;
use common::api_error::ApiResult;
use common::crypto::Keyring;
use provisioner::keys::{self, KeyUsage, SecretKind};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct KeysView {
    /// The key that seals new secrets.
    pub current_key_id: String,
    /// Every configured key and every key id some secret names, current first.
    pub keys: Vec<KeyView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    pub key_id: String,
    pub current: bool,
    /// Whether this process can open what it sealed.
    pub configured: bool,
    /// Secrets it seals, by kind (`tenant_db_password`, `server_admin_url`,
    /// `admin_totp_secret`, `admin_invite`; every kind present, zeros included).
    pub secrets: BTreeMap<String, i64>,
    pub total: i64,
}

/// The encryption keys and how many secrets each seals.
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", security(("bearer" = [])),
    responses((status = 200, body = KeysView)))]
pub async fn list(
    state: web::Data<AppState>,
    _admin: Authorized<perm::Read>,
) -> ApiResult<web::Json<KeysView>> {
    let usage = keys::usage(&state.db).await?;
    Ok(web::Json(view(&state.keyring, &usage)))
}

/// The view of `usage` against `keyring`: configured keys first (current, then previous
/// in order), then ids only the database knows.
pub fn view(keyring: &Keyring, usage: &[KeyUsage]) -> KeysView {
    let current = keyring.current_id().to_owned();
    let mut ids = vec![current.clone()];
    ids.extend(keyring.previous_ids());
    let configured = ids.len();
    for entry in usage {
        if !ids.contains(&entry.key_id) {
            ids.push(entry.key_id.clone());
        }
    }
    let keys = ids
        .into_iter()
        .enumerate()
        .map(|(index, key_id)| KeyView {
            current: key_id == current,
            configured: index < configured,
            secrets: counts_of(&key_id, usage),
            total: usage
                .iter()
                .filter(|entry| entry.key_id == key_id)
                .map(|entry| entry.count)
                .sum(),
            key_id,
        })
        .collect();
    KeysView {
        current_key_id: current,
        keys,
    }
}

fn counts_of(key_id: &str, usage: &[KeyUsage]) -> BTreeMap<String, i64> {
    SecretKind::ALL
        .iter()
        .map(|kind| {
            let count = usage
                .iter()
                .filter(|entry| entry.key_id == key_id && entry.kind == *kind)
                .map(|entry| entry.count)
                .sum();
            (kind.as_str().to_owned(), count)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(key_id: &str, kind: SecretKind, count: i64) -> KeyUsage {
        KeyUsage {
            key_id: key_id.into(),
            kind,
            count,
        }
    }

    #[test]
    fn configured_keys_come_first_and_unknown_ones_are_flagged() {
        let keyring = Keyring::new("k2", [2; 32]).with_previous("k1", [1; 32]);
        let found = [
            usage("k1", SecretKind::TenantDbPassword, 3),
            usage("k1", SecretKind::ServerAdminUrl, 1),
            usage("k0", SecretKind::AdminTotpSecret, 1),
        ];
        let view = view(&keyring, &found);
        assert_eq!(view.current_key_id, "k2");
        let ids: Vec<_> = view.keys.iter().map(|key| key.key_id.as_str()).collect();
        assert_eq!(ids, ["k2", "k1", "k0"]);
        assert_eq!(view.keys[0].total, 0);
        assert!(view.keys[0].current && view.keys[0].configured);
        assert_eq!(view.keys[1].total, 4);
        assert_eq!(view.keys[1].secrets["tenant_db_password"], 3);
        assert_eq!(view.keys[1].secrets["admin_invite"], 0);
        assert!(!view.keys[2].configured);
    }
}
