//! The admin API over HTTP with the stored login: sends [`Request`]s with the access
//! token, refreshes it (rotating the refresh token, saved at once) when it is about to
//! expire or the API says it has, and turns every error answer into a [`CliError`].

use super::endpoints::{self, Request};
use super::exit::{CliError, Exit};
use super::session::{Session, SessionFile, now_secs};
use reqwest::Url;
use serde_json::Value;
use std::time::Duration;

/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A signed-in client.
pub struct Api {
    http: reqwest::Client,
    file: SessionFile,
    session: Session,
}

impl Api {
    /// The client of the session stored in `file`; exit 3 when there is none.
    pub fn signed_in(file: SessionFile) -> Result<Self, CliError> {
        let session = file.load()?.ok_or_else(CliError::not_signed_in)?;
        Ok(Self {
            http: http_client()?,
            file,
            session,
        })
    }

    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Sends `request` and answers the JSON body of a 2xx answer (`Null` when empty).
    pub async fn call(&mut self, request: &Request) -> Result<Value, CliError> {
        if self.session.access_expired() {
            self.refresh().await?;
        }
        let token = self.session.access_token.clone();
        let (status, body) = send(&self.http, &self.session.url, request, Some(&token)).await?;
        if status != 401 {
            return answer(status, body);
        }
        // Revoked or expired early (a clock apart): one refresh, then the verdict stands.
        self.refresh().await?;
        let token = self.session.access_token.clone();
        let (status, body) = send(&self.http, &self.session.url, request, Some(&token)).await?;
        answer(status, body)
    }

    /// Trades the refresh token for a new pair and saves it.
    async fn refresh(&mut self) -> Result<(), CliError> {
        let request = endpoints::refresh(&self.session.refresh_token);
        let (status, body) = send(&self.http, &self.session.url, &request, None).await?;
        let pair = answer(status, body).map_err(|error| {
            CliError::new(
                Exit::Auth,
                format!(
                    "the session has ended ({}): run `control-plane admin login` again",
                    error.message
                ),
            )
        })?;
        apply_pair(&mut self.session, &pair)?;
        self.file.save(&self.session)
    }

    /// Ends the session on the server (best effort) and forgets it here.
    pub async fn logout(self) -> Result<(), CliError> {
        let request = endpoints::logout(&self.session.refresh_token);
        let _ = send(&self.http, &self.session.url, &request, None).await;
        self.file.remove().map(drop)
    }
}

/// Signs in and stores the session in `file`.
pub async fn login(
    file: &SessionFile,
    url: &str,
    email: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<Session, CliError> {
    let url = url.trim_end_matches('/').to_owned();
    let request = endpoints::login(email, password, totp);
    let (status, body) = send(&http_client()?, &url, &request, None).await?;
    let pair = answer(status, body).map_err(|mut error| {
        if error
            .problem
            .as_ref()
            .is_some_and(|p| p["code"] == "totp_required")
        {
            error
                .message
                .push_str("\n  this admin has 2FA: pass --totp CODE");
        }
        error
    })?;
    let mut session = Session {
        url,
        email: email.to_owned(),
        access_token: String::new(),
        refresh_token: String::new(),
        access_expires_at: 0,
    };
    apply_pair(&mut session, &pair)?;
    file.save(&session)?;
    Ok(session)
}

fn http_client() -> Result<reqwest::Client, CliError> {
    reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|error| CliError::new(Exit::ApiError, format!("no HTTP client: {error}")))
}

/// Takes a token pair (`access_token`, `refresh_token`, `expires_in`) into the session.
fn apply_pair(session: &mut Session, pair: &Value) -> Result<(), CliError> {
    let (Some(access), Some(refresh)) = (
        pair["access_token"].as_str(),
        pair["refresh_token"].as_str(),
    ) else {
        return Err(CliError::new(
            Exit::ApiError,
            "the API answered no token pair",
        ));
    };
    session.access_token = access.to_owned();
    session.refresh_token = refresh.to_owned();
    session.access_expires_at = now_secs() + pair["expires_in"].as_u64().unwrap_or(0);
    Ok(())
}

/// A 2xx answer's body, or the error it means.
fn answer(status: u16, body: Value) -> Result<Value, CliError> {
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(CliError::from_api(status, body))
    }
}

/// Sends one request; answers the status and the JSON body (`Null` when empty or not
/// JSON). Only a failure to get any answer is an error here.
pub async fn send(
    http: &reqwest::Client,
    base: &str,
    request: &Request,
    token: Option<&str>,
) -> Result<(u16, Value), CliError> {
    let url = url_of(base, request)?;
    let mut builder = http.request(request.method.clone(), url);
    if let Some(token) = token {
        builder = builder.bearer_auth(token);
    }
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    let response = builder.send().await.map_err(|error| {
        CliError::new(
            Exit::ApiError,
            format!("the admin API at {base} did not answer: {error}"),
        )
    })?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap_or_default();
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// The full URL of `request` under `base`, query included.
pub fn url_of(base: &str, request: &Request) -> Result<Url, CliError> {
    let mut url = Url::parse(&format!("{}{}", base.trim_end_matches('/'), request.path))
        .map_err(|error| CliError::new(Exit::Usage, format!("bad API URL `{base}`: {error}")))?;
    if !request.query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (key, value) in &request.query {
            pairs.append_pair(key, value);
        }
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_the_base_and_encode_the_query() {
        let mut request = endpoints::tenants(&endpoints::TenantFilter::default(), None);
        request.query.push(("search", "a&b c".into()));
        let url = url_of("http://127.0.0.1:8080/", &request).unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8080/api/v1/tenants?search=a%26b+c"
        );
        assert_eq!(url_of("not a url", &request).unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn a_token_pair_sets_the_expiry_from_now() {
        let mut session = Session {
            url: String::new(),
            email: String::new(),
            access_token: String::new(),
            refresh_token: String::new(),
            access_expires_at: 0,
        };
        let pair =
            serde_json::json!({"access_token": "a", "refresh_token": "r", "expires_in": 900});
        apply_pair(&mut session, &pair).unwrap();
        assert_eq!(session.access_token, "a");
        assert!(session.access_expires_at >= now_secs() + 899);
        assert!(apply_pair(&mut session, &Value::Null).is_err());
    }
}
