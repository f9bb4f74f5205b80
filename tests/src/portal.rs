//! The admin portal over plain HTTP, as tests that need no browser use it: sign in (the
//! session cookie kept by hand, since the portal's cookies are `Secure` and a client's jar
//! would not send them over `http://127.0.0.1`), GET pages, and post forms with the
//! session's CSRF token. Redirects are not followed: tests look at them.

use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;
use std::time::Duration;

/// A browser-less visitor of the portal at `base`.
pub struct PortalClient {
    base: String,
    client: reqwest::Client,
    /// The `__Host-portal` cookie's value once signed in.
    pub session: Option<String>,
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
        let csrf_cookie = form.cookie("__Host-portal-csrf").unwrap_or_default();
        let body = encode(&[
            ("email", email),
            ("password", password),
            ("csrf", &csrf_cookie),
            ("next", "/"),
        ]);
        let reply = self
            .send(
                self.client
                    .post(self.url("/sign-in"))
                    .header(header::COOKIE, format!("__Host-portal-csrf={csrf_cookie}"))
                    .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body),
            )
            .await;
        if let Some(session) = reply.cookie("__Host-portal") {
            self.session = Some(session);
        }
        reply
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

    fn with_session(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request.header(header::ACCEPT, "text/html");
        match &self.session {
            Some(session) => request.header(header::COOKIE, format!("__Host-portal={session}")),
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
