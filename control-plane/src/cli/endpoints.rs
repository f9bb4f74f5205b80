//! Every admin API request the CLI makes, built in one place: method, path, query and
//! JSON body. The fleet-operation routes (migration runs, backups, restores, relocation)
//! are written against their agreed shape; if one is adjusted, this is the file to change.

use reqwest::Method;
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// One request to the admin API.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: Method,
    /// Under the base URL, starting with `/api/v1/`.
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Request {
    fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    fn post(path: impl Into<String>, body: Value) -> Self {
        Self {
            method: Method::POST,
            body: Some(body),
            ..Self::get(path)
        }
    }

    /// Adds `key=value` when there is a value.
    fn with(mut self, key: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((key, value.to_string()));
        }
        self
    }
}

pub fn login(email: &str, password: &str, totp: Option<&str>) -> Request {
    Request::post(
        "/api/v1/auth/login",
        json!({ "email": email, "password": password, "totp": totp }),
    )
}

pub fn refresh(refresh_token: &str) -> Request {
    Request::post(
        "/api/v1/auth/refresh",
        json!({ "refresh_token": refresh_token }),
    )
}

pub fn logout(refresh_token: &str) -> Request {
    Request::post(
        "/api/v1/auth/logout",
        json!({ "refresh_token": refresh_token }),
    )
}

pub fn me() -> Request {
    Request::get("/api/v1/me")
}

/// `GET /api/v1/tenants` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantFilter {
    pub status: Option<String>,
    pub plan: Option<String>,
    pub server: Option<Uuid>,
    pub search: Option<String>,
    pub limit: Option<u32>,
}

pub fn tenants(filter: &TenantFilter, cursor: Option<&str>) -> Request {
    Request::get("/api/v1/tenants")
        .with("status", filter.status.as_ref())
        .with("plan", filter.plan.as_ref())
        .with("server", filter.server)
        .with("search", filter.search.as_ref())
        .with("limit", filter.limit)
        .with("cursor", cursor)
}

pub fn tenant(id: Uuid) -> Request {
    Request::get(format!("/api/v1/tenants/{id}"))
}

/// `POST /api/v1/tenants`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTenant {
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub admin_email: String,
}

pub fn create_tenant(tenant: &NewTenant) -> Request {
    Request::post(
        "/api/v1/tenants",
        json!({
            "slug": tenant.slug, "name": tenant.name,
            "plan": tenant.plan, "admin_email": tenant.admin_email,
        }),
    )
}

pub fn suspend_tenant(id: Uuid, reason: &str) -> Request {
    Request::post(
        format!("/api/v1/tenants/{id}/suspend"),
        json!({ "reason": reason }),
    )
}

pub fn resume_tenant(id: Uuid, reason: &str) -> Request {
    Request::post(
        format!("/api/v1/tenants/{id}/resume"),
        json!({ "reason": reason }),
    )
}

pub fn delete_tenant(id: Uuid, reason: &str) -> Request {
    Request {
        method: Method::DELETE,
        ..Request::post(format!("/api/v1/tenants/{id}"), json!({ "reason": reason }))
    }
}

pub fn job(id: Uuid) -> Request {
    Request::get(format!("/api/v1/jobs/{id}"))
}

pub fn servers() -> Request {
    Request::get("/api/v1/servers")
}

pub fn drain_server(id: Uuid) -> Request {
    Request::post(format!("/api/v1/servers/{id}/drain"), json!({}))
}

/// `POST /api/v1/servers/{id}/evacuate`: drain, and relocate its tenants `concurrency` at
/// a time.
pub fn evacuate_server(id: Uuid, concurrency: u8) -> Request {
    Request::post(
        format!("/api/v1/servers/{id}/evacuate"),
        json!({ "concurrency": concurrency }),
    )
}

/// `POST /api/v1/migrations/runs`: which tenants and how carefully. Absent fields are
/// left to the API's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MigrationRun {
    pub tenant_ids: Vec<Uuid>,
    pub plan_codes: Vec<String>,
    pub server_ids: Vec<Uuid>,
    pub dry_run: bool,
    pub canary_count: Option<u32>,
    pub canary_percent: Option<u32>,
    pub max_per_server: Option<u32>,
    pub max_failures: Option<u32>,
    pub max_failure_ratio: Option<f64>,
}

pub fn start_migration_run(run: &MigrationRun) -> Request {
    let mut body = Map::new();
    let mut put = |key: &str, value: Value| {
        body.insert(key.to_owned(), value);
    };
    if !run.tenant_ids.is_empty() {
        put("tenant_ids", json!(run.tenant_ids));
    }
    if !run.plan_codes.is_empty() {
        put("plan_codes", json!(run.plan_codes));
    }
    if !run.server_ids.is_empty() {
        put("server_ids", json!(run.server_ids));
    }
    if run.dry_run {
        put("dry_run", json!(true));
    }
    let numbers = [
        ("canary_count", run.canary_count.map(Value::from)),
        ("canary_percent", run.canary_percent.map(Value::from)),
        ("max_per_server", run.max_per_server.map(Value::from)),
        ("max_failures", run.max_failures.map(Value::from)),
        ("max_failure_ratio", run.max_failure_ratio.map(Value::from)),
    ];
    for (key, value) in numbers {
        if let Some(value) = value {
            put(key, value);
        }
    }
    Request::post("/api/v1/migrations/runs", Value::Object(body))
}

pub fn migration_runs(cursor: Option<&str>) -> Request {
    Request::get("/api/v1/migrations/runs").with("cursor", cursor)
}

pub fn migration_run(id: Uuid) -> Request {
    Request::get(format!("/api/v1/migrations/runs/{id}"))
}

pub fn resume_migration_run(id: Uuid) -> Request {
    Request::post(format!("/api/v1/migrations/runs/{id}/resume"), json!({}))
}

pub fn cancel_migration_run(id: Uuid) -> Request {
    Request::post(format!("/api/v1/migrations/runs/{id}/cancel"), json!({}))
}

pub fn create_backup(tenant: Uuid) -> Request {
    Request::post(format!("/api/v1/tenants/{tenant}/backups"), json!({}))
}

pub fn backups(tenant: Uuid, cursor: Option<&str>) -> Request {
    Request::get(format!("/api/v1/tenants/{tenant}/backups")).with("cursor", cursor)
}

pub fn restore(tenant: Uuid, backup: Uuid, reason: &str) -> Request {
    Request::post(
        format!("/api/v1/tenants/{tenant}/restores"),
        json!({ "backup_id": backup, "reason": reason }),
    )
}

pub fn relocate(tenant: Uuid, server: Uuid, reason: &str) -> Request {
    Request::post(
        format!("/api/v1/tenants/{tenant}/relocate"),
        json!({ "server_id": server, "reason": reason }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: Uuid = Uuid::from_u128(7);

    #[test]
    fn a_migration_run_sends_only_what_was_asked() {
        let request = start_migration_run(&MigrationRun {
            plan_codes: vec!["growth".into()],
            canary_count: Some(2),
            max_failure_ratio: Some(0.1),
            ..MigrationRun::default()
        });
        assert_eq!(request.method, Method::POST);
        assert_eq!(request.path, "/api/v1/migrations/runs");
        assert_eq!(
            request.body,
            Some(json!({"plan_codes": ["growth"], "canary_count": 2, "max_failure_ratio": 0.1}))
        );
        let dry = start_migration_run(&MigrationRun {
            tenant_ids: vec![ID],
            dry_run: true,
            ..MigrationRun::default()
        });
        assert_eq!(
            dry.body,
            Some(json!({"tenant_ids": [ID.to_string()], "dry_run": true}))
        );
    }

    #[test]
    fn run_actions_backups_restores_and_relocation_have_their_agreed_paths() {
        let expected = [
            (
                migration_run(ID),
                Method::GET,
                format!("/api/v1/migrations/runs/{ID}"),
            ),
            (
                resume_migration_run(ID),
                Method::POST,
                format!("/api/v1/migrations/runs/{ID}/resume"),
            ),
            (
                cancel_migration_run(ID),
                Method::POST,
                format!("/api/v1/migrations/runs/{ID}/cancel"),
            ),
            (
                create_backup(ID),
                Method::POST,
                format!("/api/v1/tenants/{ID}/backups"),
            ),
            (
                backups(ID, None),
                Method::GET,
                format!("/api/v1/tenants/{ID}/backups"),
            ),
            (
                restore(ID, ID, "why"),
                Method::POST,
                format!("/api/v1/tenants/{ID}/restores"),
            ),
            (
                relocate(ID, ID, "why"),
                Method::POST,
                format!("/api/v1/tenants/{ID}/relocate"),
            ),
        ];
        for (request, method, path) in expected {
            assert_eq!((request.method, request.path), (method, path));
        }
        assert_eq!(
            restore(ID, ID, "why").body,
            Some(json!({"backup_id": ID, "reason": "why"}))
        );
        assert_eq!(
            relocate(ID, ID, "why").body,
            Some(json!({"server_id": ID, "reason": "why"}))
        );
        assert_eq!(
            migration_runs(Some("c1")).query,
            vec![("cursor", "c1".to_owned())]
        );
    }

    #[test]
    fn a_tenant_list_sends_its_filters_as_query_parameters() {
        let filter = TenantFilter {
            status: Some("active".into()),
            search: Some("acme".into()),
            ..TenantFilter::default()
        };
        let request = tenants(&filter, Some("next"));
        assert_eq!(
            request.query,
            vec![
                ("status", "active".to_owned()),
                ("search", "acme".to_owned()),
                ("cursor", "next".to_owned())
            ]
        );
        assert_eq!(delete_tenant(ID, "done").method, Method::DELETE);
    }
}
