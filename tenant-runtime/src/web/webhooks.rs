//! Outbound webhook pages, a platform setting for the company's admins: the endpoints
//! with a form to register one (its signing secret shown once, on the page that answers
//! the form), and an endpoint's page with its settings, the delivery log, and buttons to
//! send a test event, rotate the secret (the new one shown once) or delete it. Reading
//! needs `settings.read`, changing `settings.manage`; every change goes through
//! `erp::webhooks::endpoints`, the functions the API calls.

use crate::auth::perm::{SettingsManage, SettingsRead};
use crate::erp::events::{ALL_EVENTS, CATALOGUE};
use crate::erp::webhooks::endpoints::{
    self, DeliveryRecord, Endpoint, EndpointChange, NewEndpoint, PageQuery,
};
use crate::state::AppState;
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::badge::Badge;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/webhooks/list.html")]
struct ListPage {
    layout: Layout,
    endpoints: Vec<Endpoint>,
    pager: Pager,
    may_manage: bool,
    catalogue: Vec<(String, String)>,
    form: EndpointForm,
    chosen: Vec<String>,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/webhooks/show.html")]
struct EndpointPage {
    layout: Layout,
    endpoint: Endpoint,
    deliveries: Vec<DeliveryRecord>,
    pager: Pager,
    may_manage: bool,
    catalogue: Vec<(String, String)>,
    /// A secret made by this very request (registration or rotation): shown once.
    secret: Option<String>,
    errors: FormErrors,
}

/// `?cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    cursor: Option<String>,
}

/// The register and edit forms (event types are checkboxes, read from the raw body).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct EndpointForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    /// `enabled` or `disabled` (edit form only).
    #[serde(default)]
    state: String,
}

fn badge(endpoint: &Endpoint) -> Badge {
    match (&endpoint.enabled, &endpoint.disabled_reason) {
        (true, _) => Badge::status("enabled"),
        // `failing` (three days of failed deliveries) or `gone` (the receiver said 410).
        (false, Some(reason)) if reason != "manual" => Badge::status(reason),
        (false, _) => Badge::status("disabled"),
    }
}

fn delivery_badge(delivery: &DeliveryRecord) -> Badge {
    Badge::status(&delivery.status)
}

/// Every event type a company can subscribe to, `*` first.
fn catalogue() -> Vec<(String, String)> {
    std::iter::once((ALL_EVENTS.to_owned(), "every event".to_owned()))
        .chain(
            CATALOGUE
                .iter()
                .map(|(name, about)| ((*name).to_owned(), (*about).to_owned())),
        )
        .collect()
}

/// The checked `event_types` boxes of a submitted form.
fn chosen_events(raw: &[u8]) -> Vec<String> {
    form_urlencoded::parse(raw)
        .filter(|(key, _)| key == "event_types")
        .map(|(_, value)| value.into_owned())
        .collect()
}

fn cursor(query: &ListQuery) -> Option<String> {
    query.cursor.clone().filter(|cursor| !cursor.is_empty())
}

/// `GET /webhooks`.
pub async fn list(signed: Signed, query: web::Query<ListQuery>) -> PageResult {
    let empty = (EndpointForm::default(), Vec::new());
    list_page(signed, &query, empty, FormErrors::default(), StatusCode::OK).await
}

async fn list_page(
    signed: Signed,
    query: &ListQuery,
    (form, chosen): (EndpointForm, Vec<String>),
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_manage = signed.can("settings.manage");
    let layout = nav::layout(&signed, "Webhooks");
    let auth = signed.authorize::<SettingsRead>()?;
    let paging = PageQuery {
        limit: Some(50),
        after: cursor(query),
    };
    let page = endpoints::list(auth.current.db.client(), &paging).await?;
    let params = [("cursor", query.cursor.clone().unwrap_or_default())];
    let page = ListPage {
        layout,
        pager: Pager::new("/webhooks", &params, page.next.as_deref()),
        endpoints: page.items,
        may_manage,
        catalogue: catalogue(),
        form,
        chosen,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /webhooks`: registers an endpoint and answers its page with the secret, once.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    submitted: AppForm<EndpointForm>,
) -> PageResult {
    let AppForm { signed, form, raw } = submitted;
    let chosen = chosen_events(&raw);
    let input = NewEndpoint {
        url: form.url.trim().to_owned(),
        description: form.description.clone(),
        event_types: chosen.clone(),
        enabled: true,
    };
    let auth = signed.authorize::<SettingsManage>()?;
    let mut current = auth.current;
    match endpoints::create(&mut current, &state.webhooks, input).await {
        Ok(created) => {
            let signed = Signed::again(&request).await?;
            let shown = Shown {
                secret: Some(created.secret),
                ..Shown::default()
            };
            endpoint_page(signed, created.endpoint.id, shown, StatusCode::CREATED).await
        }
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("url_not_allowed", "url")])?;
            let signed = Signed::again(&request).await?;
            let query = ListQuery::default();
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            list_page(signed, &query, (form, chosen), errors, status).await
        }
    }
}

/// What an endpoint's page shows beyond the stored endpoint.
#[derive(Default)]
struct Shown {
    cursor: Option<String>,
    secret: Option<String>,
    errors: FormErrors,
}

/// `GET /webhooks/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>, query: web::Query<ListQuery>) -> PageResult {
    let shown = Shown {
        cursor: cursor(&query),
        ..Shown::default()
    };
    endpoint_page(signed, *id, shown, StatusCode::OK).await
}

async fn endpoint_page(signed: Signed, id: Uuid, shown: Shown, status: StatusCode) -> PageResult {
    let may_manage = signed.can("settings.manage");
    let layout = nav::layout(&signed, "Webhook endpoint");
    let auth = signed.authorize::<SettingsRead>()?;
    let db = auth.current.db.client();
    let endpoint = endpoints::show(db, id).await?;
    let paging = PageQuery {
        limit: Some(50),
        after: shown.cursor.clone(),
    };
    let deliveries = endpoints::deliveries(db, id, &paging).await?;
    let params = [("cursor", shown.cursor.unwrap_or_default())];
    let path = format!("/webhooks/{id}");
    let page = EndpointPage {
        layout: Layout {
            title: endpoint.url.clone(),
            ..layout
        },
        pager: Pager::new(&path, &params, deliveries.next.as_deref()),
        deliveries: deliveries.items,
        endpoint,
        may_manage,
        catalogue: catalogue(),
        secret: shown.secret,
        errors: shown.errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /webhooks/{id}`: URL, description, event types, enabled or not.
pub async fn update(
    state: web::Data<AppState>,
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<EndpointForm>,
) -> PageResult {
    let AppForm { signed, form, raw } = submitted;
    let change = EndpointChange {
        url: Some(form.url.trim().to_owned()),
        description: Some(form.description.clone()),
        event_types: Some(chosen_events(&raw)),
        enabled: Some(form.state != "disabled"),
    };
    let auth = signed.authorize::<SettingsManage>()?;
    let mut current = auth.current;
    match endpoints::update(&mut current, &state.webhooks, *id, change).await {
        Ok(endpoint) => Ok(render::redirect(
            &request,
            &format!("/webhooks/{}", endpoint.id),
            Some(Flash::success("Saved.")),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("url_not_allowed", "url")])?;
            let signed = Signed::again(&request).await?;
            let shown = Shown {
                errors,
                ..Shown::default()
            };
            endpoint_page(signed, *id, shown, StatusCode::UNPROCESSABLE_ENTITY).await
        }
    }
}

/// `POST /webhooks/{id}/{action}`: `test` (queues a test event), `rotate-secret` (answers
/// the page with the new secret, once) or `delete`.
pub async fn act(
    state: web::Data<AppState>,
    request: HttpRequest,
    path: web::Path<(Uuid, String)>,
    submitted: AppForm<EndpointForm>,
) -> PageResult {
    let (id, action) = path.into_inner();
    let auth = submitted.signed.authorize::<SettingsManage>()?;
    let mut current = auth.current;
    let here = format!("/webhooks/{id}");
    match action.as_str() {
        "test" => match endpoints::send_test(&mut current, id).await {
            Ok(queued) => Ok(render::redirect(
                &request,
                &here,
                Some(Flash::success(format!(
                    "Test event {} queued: it appears in the log below once sent.",
                    queued.event_id
                ))),
            )),
            Err(error) => {
                let errors = FormErrors::from_api_error(error, &[])?;
                let signed = Signed::again(&request).await?;
                let shown = Shown {
                    errors,
                    ..Shown::default()
                };
                endpoint_page(signed, id, shown, StatusCode::CONFLICT).await
            }
        },
        "rotate-secret" => {
            let rotated = endpoints::rotate_secret(&mut current, &state.webhooks, id).await?;
            let signed = Signed::again(&request).await?;
            let shown = Shown {
                secret: Some(rotated.secret),
                ..Shown::default()
            };
            endpoint_page(signed, id, shown, StatusCode::OK).await
        }
        "delete" => {
            endpoints::delete(&mut current, id).await?;
            Ok(render::redirect(
                &request,
                "/webhooks",
                Some(Flash::success("Endpoint deleted with its delivery log.")),
            ))
        }
        _ => Err(ApiError::not_found("not_found", "no such action").into()),
    }
}
