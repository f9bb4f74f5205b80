//! The admin portal and the ERP web app over plain HTTP, as tests that need no browser use
//! them: sign in (the session cookie kept by hand, since both apps' cookies are `Secure`
//! and a client's jar would not send them over `http://127.0.0.1`), GET pages, and post
//! forms with the session's CSRF token. Redirects are not followed: tests look at them.

use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;
use std::time::Duration;

/// A browser-less visitor of the portal (or, made with [`PortalClient::for_app`], of a
/// company's web app) at `base`.
pub struct PortalClient {
    base: String,
    client: reqwest::Client,
    /// The session cookie's value once signed in.
    pub session: Option<String>,
    /// The names of the session cookie and of the sign-in form's CSRF cookie.
    cookies: (&'static str, &'static str),
    /// The company a web app client visits (sent as `X-Tenant`).
    tenant: Option<String>,
}

/// A page as the portal answered it.
#[derive(Debug)]
pub struct PageReply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl PageReply {
    pub fn location(&self) -> Option<&str> {
        self.headers
            .get(header::LOCATION)
            .and_then(|value| value.to_str().ok())
    }

    /// The value of the first `Set-Cookie` named `name`.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .filter_map(|cookie| cookie.split(';').next())
            .filter_map(|pair| pair.split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())
    }

    /// The CSRF token the page carries (its `<meta name="csrf-token">`).
    pub fn csrf(&self) -> String {
        self.attribute_after("name=\"csrf-token\" content=\"")
            .or_else(|| self.attribute_after("name=\"csrf\" value=\""))
            .unwrap_or_default()
    }

    /// The value of the hidden input `name`.
    pub fn input(&self, name: &str) -> Option<String> {
        self.attribute_after(&format!("name=\"{name}\" value=\""))
    }

    fn attribute_after(&self, marker: &str) -> Option<String> {
        let start = self.body.find(marker)? + marker.len();
        let end = self.body[start..].find('"')? + start;
        Some(self.body[start..end].to_owned())
    }
}

impl PortalClient {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
            session: None,
            cookies: ("__Host-portal", "__Host-portal-csrf"),
            tenant: None,
        }
    }

    /// A visitor of company `slug`'s web app on the runtime at `runtime_url`.
    pub fn for_app(runtime_url: &str, slug: &str) -> Self {
        Self {
            cookies: ("__Host-erp", "__Host-erp-csrf"),
            tenant: Some(slug.to_owned()),
            ..Self::new(runtime_url)
        }
    }

    /// Signs in with the password (no second factor), panicking unless it worked.
    pub async fn signed_in(base: &str, email: &str, password: &str) -> Self {
        let mut portal = Self::new(base);
        let reply = portal.sign_in(email, password).await;
        assert_eq!(reply.status, 303, "sign-in failed: {}", reply.body);
        assert!(portal.session.is_some(), "no session cookie");
        portal
    }

    /// Posts the sign-in form (with its CSRF cookie) and keeps the session it gives.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> PageReply {
        let form = self.get("/sign-in").await;
        let (session_cookie, csrf_name) = self.cookies;
        let csrf_cookie = form.cookie(csrf_name).unwrap_or_default();
        let body = encode(&[
            ("email", email),
            ("password", password),
            ("csrf", &csrf_cookie),
            ("next", "/"),
        ]);
        let request = self
            .client
            .post(self.url("/sign-in"))
            .header(header::COOKIE, format!("{csrf_name}={csrf_cookie}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let reply = self.send(self.with_tenant(request)).await;
        if let Some(session) = reply.cookie(session_cookie) {
            self.session = Some(session);
        }
        reply
    }

    /// Posts `fields` to `path` as a form shown before sign-in does: with the CSRF token the
    /// page `form_page` handed out in its cookie.
    pub async fn post_before_sign_in(
        &self,
        form_page: &str,
        path: &str,
        fields: &[(&str, &str)],
    ) -> PageReply {
        let csrf_name = self.cookies.1;
        let csrf_cookie = self
            .get(form_page)
            .await
            .cookie(csrf_name)
            .unwrap_or_default();
        let mut with_token = fields.to_vec();
        with_token.push(("csrf", &csrf_cookie));
        let request = self
            .client
            .post(self.url(path))
            .header(header::COOKIE, format!("{csrf_name}={csrf_cookie}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encode(&with_token));
        self.send(self.with_tenant(request)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A page, as a browser asks for it.
    pub async fn get(&self, path: &str) -> PageReply {
        self.send(self.with_session(self.client.get(self.url(path))))
            .await
    }

    /// Posts `fields` to `path` with the session's CSRF token (read from `/`).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> PageReply {
        let csrf = self.get("/").await.csrf();
        let mut with_token = fields.to_vec();
        with_token.push(("csrf", &csrf));
        self.post_raw(path, &with_token).await
    }

    /// Posts exactly `fields` (no CSRF token added).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> PageReply {
        let request = self
            .client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(encode(fields));
        self.send(self.with_session(request)).await
    }

    /// Posts exactly `fields` with `token` in the `X-CSRF-Token` header, as htmx does.
    pub async fn post_with_csrf_header(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        token: &str,
    ) -> PageReply {
        let request = self
            .client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("X-CSRF-Token", token)
            .body(encode(fields));
        self.send(self.with_session(request)).await
    }

    /// Posts `body` as `content_type` (a multipart upload, say) with the session, as is.
    pub async fn post_body(&self, path: &str, content_type: &str, body: Vec<u8>) -> PageReply {
        let request = self
            .client
            .post(self.url(path))
            .header(header::CONTENT_TYPE, content_type)
            .body(body);
        self.send(self.with_session(request)).await
    }

    fn with_session(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = self
            .with_tenant(request)
            .header(header::ACCEPT, "text/html");
        match &self.session {
            Some(session) => {
                request.header(header::COOKIE, format!("{}={session}", self.cookies.0))
            }
            None => request,
        }
    }

    fn with_tenant(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.tenant {
            Some(slug) => request.header("X-Tenant", slug),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> PageReply {
        let response = request.send().await.expect("request sent");
        PageReply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        }
    }
}

fn encode(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}
