//! `Body<T>`: a JSON body whose parse error waits until the handler asks for it. Actix
//! runs a handler's extractors together, so with a plain `web::Json` a malformed body
//! could answer 422 to a caller who is not even allowed to make the request; with
//! `Body`, authentication and authorization (extractors) speak first.

use crate::api::error::{ApiError, ApiResult};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use std::convert::Infallible;

pub struct Body<T>(Result<T, actix_web::Error>);

impl<T> Body<T> {
    /// The parsed body, or the problem+json the JSON configuration made of its error.
    pub fn into_inner(self) -> ApiResult<T> {
        self.0.map_err(ApiError::Rejected)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Body<T> {
    type Error = Infallible;
    type Future = LocalBoxFuture<'static, Result<Self, Infallible>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<T>::from_request(request, payload);
        Box::pin(async move { Ok(Self(json.await.map(web::Json::into_inner))) })
    }
}
