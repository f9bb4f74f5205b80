//! `Body<T>`: a JSON body whose parse error waits until the handler asks for it (see
//! `common::http::Body`); here its error becomes an [`ApiError::Rejected`].

pub use common::http::Body;

use crate::api::error::ApiError;

impl From<actix_web::Error> for ApiError {
    fn from(error: actix_web::Error) -> Self {
        Self::Rejected(error)
    }
}
