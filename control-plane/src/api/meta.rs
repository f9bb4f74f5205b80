//! Who is on the other end of a request, for the audit log and per-IP limits: the request
//! id (the one `tracing-actix-web` logs) and the client IP (the peer address, or the first
//! `X-Forwarded-For` hop when `control_plane.trust_forwarded_for` is set).

use crate::state::AppState;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::IpAddr;
use tracing_actix_web::RequestId;

#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<IpAddr>,
}

impl RequestMeta {
    pub fn ip_text(&self) -> Option<String> {
        self.ip.map(|ip| ip.to_string())
    }
}

impl FromRequest for RequestMeta {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(ToString::to_string)
            .unwrap_or_default();
        let trust_forwarded = request
            .app_data::<web::Data<AppState>>()
            .is_some_and(|state| state.config.trust_forwarded_for);
        ready(Ok(Self {
            request_id,
            ip: common::http::client_ip(request, trust_forwarded),
        }))
    }
}
