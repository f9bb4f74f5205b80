//! The tenant runtime as tests use it: companies made through signup (so their admin has a
//! known password), requests naming the company by `X-Tenant` header or subdomain, and
//! sign-in helpers.

use crate::admin::{AdminApi, Reply};
use reqwest::Method;
use serde_json::{Value, json};

/// The password every company's first admin signs up with.
pub const OWNER_PASSWORD: &str = "a long enough password";

/// A company (tenant) made for a test.
#[derive(Debug, Clone)]
pub struct Company {
    pub id: String,
    pub slug: String,
    pub admin_email: String,
}

impl AdminApi {
    /// Signs a company up on `plan` and waits until it is active.
    pub async fn company(&self, slug: &str, plan: &str) -> Company {
        let admin_email = format!("boss@{slug}.example");
        let body = json!({ "company_name": format!("{slug} Manufacturing"), "slug": slug,
                           "admin_email": admin_email, "admin_password": OWNER_PASSWORD,
                           "plan": plan });
        let reply = self
            .call(Method::POST, "/api/v1/signup", None, Some(body))
            .await;
        assert_eq!(reply.status, 202, "signup of {slug}: {:?}", reply.body);
        let job = self
            .wait_for_job(reply.body["job_id"].as_str().expect("job"))
            .await;
        assert_eq!(job["state"], "succeeded", "{job:?}");
        Company {
            id: reply.body["tenant_id"].as_str().expect("id").to_owned(),
            slug: slug.to_owned(),
            admin_email,
        }
    }

    /// Creates a public plan with these limits and every module but `production`.
    pub async fn plan_with(&self, code: &str, limits: Value) -> Value {
        let mut all = json!({ "max_users": 10, "max_storage_mb": 1000,
                              "api_requests_per_minute": 6000, "api_calls_per_month": 1_000_000,
                              "max_concurrent_requests": 50, "max_db_connections": 5 });
        for (key, value) in limits.as_object().expect("limits object") {
            all[key] = value.clone();
        }
        let reply = self
            .post(
                "/api/v1/plans",
                json!({ "code": code, "name": code, "limits": all,
                        "features": ["master_data", "inventory", "sales"] }),
            )
            .await;
        assert_eq!(reply.status, 201, "{:?}", reply.body);
        reply.body
    }

    /// A request to the runtime naming the company with `X-Tenant`.
    pub async fn tenant_call(
        &self,
        slug: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let runtime = self.app.tenant_runtime_url.clone();
        self.tenant_call_at(&runtime, slug, method, path, token, body)
            .await
    }

    /// The same, to the runtime at `runtime_url` (another replica).
    pub async fn tenant_call_at(
        &self,
        runtime_url: &str,
        slug: &str,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let url = format!("{runtime_url}{path}");
        let mut request = self
            .app
            .client
            .request(method, url)
            .header("X-Tenant", slug);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        crate::admin::read(request.send().await.expect("request sent")).await
    }

    /// Signs in to a company: the reply of `POST /api/v1/auth/login`.
    pub async fn tenant_login(&self, slug: &str, email: &str, password: &str) -> Reply {
        self.tenant_call(
            slug,
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({ "email": email, "password": password })),
        )
        .await
    }

    /// The company owner's access token.
    pub async fn owner_token(&self, company: &Company) -> String {
        let reply = self
            .tenant_login(&company.slug, &company.admin_email, OWNER_PASSWORD)
            .await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
        reply.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }
}

impl AdminApi {
    /// `POST /api/v1/auth/set-password` with an emailed token.
    pub async fn set_password(&self, slug: &str, token: &str, password: &str) -> Reply {
        self.tenant_call(
            slug,
            Method::POST,
            "/api/v1/auth/set-password",
            None,
            Some(json!({ "token": token, "password": password })),
        )
        .await
    }

    /// A user of `slug` invited by its owner (`owner_token`) with `roles`, their password
    /// set to [`OWNER_PASSWORD`] from the invitation mail: ready to sign in.
    pub async fn member(&self, slug: &str, owner_token: &str, email: &str, roles: &[&str]) {
        let invited = self
            .tenant_call(
                slug,
                Method::POST,
                "/api/v1/users",
                Some(owner_token),
                Some(json!({ "email": email, "roles": roles })),
            )
            .await;
        assert_eq!(invited.status, 201, "{:?}", invited.body);
        let mailed = self.mailed_token(email, "invited").await;
        let set = self.set_password(slug, &mailed, OWNER_PASSWORD).await;
        assert_eq!(set.status, 204, "{:?}", set.body);
    }

    /// The token in the link of the mail to `email` whose text contains `subject`, as
    /// written under `{data_dir}/mail/` (five seconds at most).
    pub async fn mailed_token(&self, email: &str, subject: &str) -> String {
        let mail_dir = self.app.settings.data_dir.join("mail");
        for _ in 0..50 {
            if let Some(token) = token_in_mail(&mail_dir, email, subject) {
                return token;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("no `{subject}` mail reached {email}");
    }
}

fn token_in_mail(mail_dir: &std::path::Path, email: &str, subject: &str) -> Option<String> {
    for entry in std::fs::read_dir(mail_dir).ok()? {
        let text = std::fs::read_to_string(entry.ok()?.path()).unwrap_or_default();
        if text.contains(email) && text.contains(subject) {
            // Quoted-printable: soft line breaks, and `=` written as `=3D`.
            let unfolded = text
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            let at = unfolded.find("token=").expect("a link with a token");
            return Some(
                unfolded[at + 6..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                    .collect(),
            );
        }
    }
    None
}
