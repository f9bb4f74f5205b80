//! What an admin does to tenants from the portal: create (one tenant however often the
//! form is sent: it carries an idempotency key), rename and change plan, suspend, resume
//! and delete (a reason always, and for delete the slug typed out), and impersonate a
//! tenant user. Each calls the admin API's own function with the session admin's proof of
//! permission; each confirmation form works as a page and, with htmx, in a dialog.

use crate::api::idempotency::Key;
use crate::api::impersonation::{self, ImpersonationRequest, ImpersonationToken};
use crate::api::meta::RequestMeta;
use crate::api::tenants::{
    self as api, Creation, NewTenantRequest, StatusChange, TenantPatch, TenantView,
};
use crate::auth::guard::perm;
use crate::auth::roles::Action;
use crate::portal::errors::{PageError, PageResult};
use crate::portal::nav;
use crate::portal::session::{PortalForm, Signed};
use crate::portal::tenants::{plans, tenant_id};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use serde::Deserialize;
use uuid::Uuid;

/// The action buttons a tenant's page shows: `(verb, label)`, for this admin's role and
/// this tenant's status (the server checks both again when one is used).
pub fn available(signed: &Signed, tenant: &TenantView) -> Vec<(&'static str, &'static str)> {
    let manage = signed.can(Action::ManageTenants);
    let status = tenant.status.as_str();
    let mut actions = Vec::new();
    if manage && !matches!(status, "deleting" | "deleted") {
        actions.push(("edit", "Rename or change plan"));
    }
    if signed.can(Action::Impersonate) && status == "active" {
        actions.push(("impersonate", "Impersonate a user"));
    }
    if manage && status == "active" {
        actions.push(("suspend", "Suspend"));
    }
    if manage && status == "suspended" {
        actions.push(("resume", "Resume"));
    }
    if manage && matches!(status, "active" | "suspended" | "failed") {
        actions.push(("delete", "Delete"));
    }
    actions
}

// ---- create ----------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal/tenants/new.html")]
struct NewPage {
    layout: Layout,
    form: CreateForm,
    plans: Vec<(String, String)>,
    errors: FormErrors,
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    admin_email: String,
    /// One per form shown: a second submission of the same form replays the first.
    #[serde(default)]
    idempotency_key: String,
}

/// `GET /tenants/new`.
pub async fn new_form(state: web::Data<AppState>, signed: Signed) -> PageResult {
    signed.authorize::<perm::ManageTenants>()?;
    let form = CreateForm {
        idempotency_key: Uuid::new_v4().to_string(),
        ..CreateForm::default()
    };
    new_page(&state, &signed, form, FormErrors::default(), StatusCode::OK).await
}

async fn new_page(
    state: &web::Data<AppState>,
    signed: &Signed,
    form: CreateForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let plans = plans(state, &reader)
        .await?
        .into_iter()
        .filter(|plan| !plan.archived)
        .map(|plan| (plan.code, plan.name))
        .collect();
    let page = NewPage {
        layout: nav::layout(signed, "New tenant"),
        form,
        plans,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /tenants`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<CreateForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManageTenants>()?;
    let body = NewTenantRequest {
        slug: form.slug.trim().to_owned(),
        name: form.name.clone(),
        plan: form.plan.clone(),
        admin_email: form.admin_email.trim().to_owned(),
    };
    let key = Key::new(&form.idempotency_key, api::create_scope(&admin), &body).ok();
    match api::create_tenant(&state, &admin, &meta, body, key).await {
        Ok(Creation::Created(job)) => Ok(render::redirect(
            &request,
            &format!("/tenants/{}", job.id),
            Some(Flash::success(format!(
                "Tenant {} is being created.",
                job.slug
            ))),
        )),
        Ok(Creation::Replayed(replay)) => {
            let id = replay.body["id"].as_str().unwrap_or_default().to_owned();
            Ok(render::redirect(&request, &format!("/tenants/{id}"), None))
        }
        Err(error) => {
            let errors = FormErrors::from_api_error(
                error,
                &[("slug_taken", "slug"), ("unknown_plan", "plan")],
            )?;
            new_page(
                &state,
                &signed,
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

// ---- edit ------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal/tenants/edit.html")]
struct EditPage {
    layout: Layout,
    tenant: TenantView,
    /// What the form shows (macro parameters are called `name`: keep these apart).
    form_name: String,
    form_plan: String,
    plans: Vec<(String, String)>,
    errors: FormErrors,
}

#[derive(Debug, Deserialize)]
pub struct EditForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    plan: String,
}

/// `GET /tenants/{id}/edit`.
pub async fn edit_form(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
) -> PageResult {
    signed.authorize::<perm::ManageTenants>()?;
    let tenant = load(&state, &signed, &id).await?;
    let form = EditForm {
        name: tenant.name.clone(),
        plan: tenant.plan.clone(),
    };
    edit_page(&state, &signed, tenant, form, FormErrors::default()).await
}

async fn edit_page(
    state: &web::Data<AppState>,
    signed: &Signed,
    tenant: TenantView,
    form: EditForm,
    errors: FormErrors,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let plans = plans(state, &reader)
        .await?
        .into_iter()
        .filter(|plan| !plan.archived || plan.code == tenant.plan)
        .map(|plan| (plan.code, plan.name))
        .collect();
    let status = errors.status();
    let page = EditPage {
        layout: nav::layout(signed, format!("Edit {}", tenant.name)),
        form_name: form.name,
        form_plan: form.plan,
        tenant,
        plans,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /tenants/{id}/edit`.
pub async fn edit(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    id: web::Path<String>,
    submitted: PortalForm<EditForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManageTenants>()?;
    let id = tenant_id(&id)?;
    let patch = TenantPatch {
        name: Some(form.name.clone()),
        plan: Some(form.plan.clone()),
    };
    match api::update_tenant(&state, &admin, &meta, id, patch).await {
        Ok(tenant) => Ok(render::redirect(
            &request,
            &format!("/tenants/{id}"),
            Some(Flash::success(format!("Tenant {} saved.", tenant.slug))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("unknown_plan", "plan")])?;
            let tenant = load(&state, &signed, &id.to_string()).await?;
            edit_page(&state, &signed, tenant, form, errors).await
        }
    }
}

// ---- suspend, resume, delete -----------------------------------------------------------

#[derive(Template)]
#[template(path = "portal/tenants/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    tenant: TenantView,
    change: Change,
    reason: String,
    errors: FormErrors,
}

/// A change of a tenant's access that needs a reason and a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Suspend,
    Resume,
    Delete,
}

impl Change {
    fn parse(verb: &str) -> Result<Self, PageError> {
        match verb {
            "suspend" => Ok(Self::Suspend),
            "resume" => Ok(Self::Resume),
            "delete" => Ok(Self::Delete),
            _ => Err(PageError::Api(ApiError::not_found(
                "not_found",
                format!("There is no tenant action `{verb}`."),
            ))),
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Delete => "delete",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Suspend => "Suspend",
            Self::Resume => "Resume",
            Self::Delete => "Delete",
        }
    }

    fn explanation(self) -> &'static str {
        match self {
            Self::Suspend => {
                "Its users are refused from their next request on, until it is resumed."
            }
            Self::Resume => "Its users can sign in and work again at once.",
            Self::Delete => {
                "Its database is backed up and then dropped. Its users lose access at once."
            }
        }
    }

    fn done(self) -> &'static str {
        match self {
            Self::Suspend => "suspended",
            Self::Resume => "resumed",
            Self::Delete => "is being deleted",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    reason: String,
    /// For delete: the tenant's slug, typed out.
    #[serde(default)]
    confirm_slug: String,
}

/// `GET /tenants/{id}/{suspend|resume|delete}`: the confirmation (a dialog with htmx).
pub async fn confirm_form(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
) -> PageResult {
    let (id, verb) = path.into_inner();
    let change = Change::parse(&verb)?;
    signed.authorize::<perm::ManageTenants>()?;
    let tenant = load(&state, &signed, &id).await?;
    Ok(confirm_page(
        &signed,
        tenant,
        change,
        String::new(),
        FormErrors::default(),
    ))
}

fn confirm_page(
    signed: &Signed,
    tenant: TenantView,
    change: Change,
    reason: String,
    errors: FormErrors,
) -> HttpResponse {
    let status = errors.status();
    let page = ConfirmPage {
        layout: nav::layout(signed, format!("{} {}", change.title(), tenant.name)),
        tenant,
        change,
        reason,
        errors,
    };
    render::page(status, &page.layout, &page)
}

/// `POST /tenants/{id}/{suspend|resume|delete}`.
pub async fn change(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    path: web::Path<(String, String)>,
    submitted: PortalForm<ConfirmForm>,
) -> PageResult {
    let (id, verb) = path.into_inner();
    let change = Change::parse(&verb)?;
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManageTenants>()?;
    let tenant = load(&state, &signed, &id).await?;
    if change == Change::Delete && form.confirm_slug.trim() != tenant.slug {
        let mut errors = FormErrors::default();
        errors.add(
            "confirm_slug",
            &format!("type {} to confirm the deletion", tenant.slug),
        );
        return Ok(confirm_page(&signed, tenant, change, form.reason, errors));
    }
    let outcome = match change {
        Change::Suspend => api::change_status(
            &state,
            &admin,
            &meta,
            tenant.id,
            &form.reason,
            StatusChange::Suspend,
        )
        .await
        .map(drop),
        Change::Resume => api::change_status(
            &state,
            &admin,
            &meta,
            tenant.id,
            &form.reason,
            StatusChange::Resume,
        )
        .await
        .map(drop),
        Change::Delete => api::delete_tenant(&state, &admin, &meta, tenant.id, &form.reason)
            .await
            .map(drop),
    };
    match outcome {
        Ok(()) => Ok(render::redirect(
            &request,
            &format!("/tenants/{}", tenant.id),
            Some(Flash::success(format!(
                "Tenant {} {}.",
                tenant.slug,
                change.done()
            ))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            Ok(confirm_page(&signed, tenant, change, form.reason, errors))
        }
    }
}

// ---- impersonate -----------------------------------------------------------------------

#[derive(Template)]
#[template(path = "portal/tenants/impersonate.html")]
struct ImpersonatePage {
    layout: Layout,
    tenant: TenantView,
    form: ImpersonateForm,
    errors: FormErrors,
    /// Set once the token is issued: the form that opens the tenant's app with it.
    issued: Option<Issued>,
}

struct Issued {
    token: ImpersonationToken,
    app_url: String,
}

#[derive(Debug, Deserialize)]
pub struct ImpersonateForm {
    #[serde(default)]
    user_email: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    minutes: String,
}

/// `GET /tenants/{id}/impersonate`.
pub async fn impersonate_form(
    state: web::Data<AppState>,
    signed: Signed,
    id: web::Path<String>,
) -> PageResult {
    signed.authorize::<perm::Impersonate>()?;
    let tenant = load(&state, &signed, &id).await?;
    let form = ImpersonateForm {
        user_email: tenant.admin_email.clone(),
        reason: String::new(),
        minutes: impersonation::MAX_MINUTES.to_string(),
    };
    Ok(impersonate_page(
        &signed,
        tenant,
        form,
        FormErrors::default(),
        None,
    ))
}

fn impersonate_page(
    signed: &Signed,
    tenant: TenantView,
    form: ImpersonateForm,
    errors: FormErrors,
    issued: Option<Issued>,
) -> HttpResponse {
    let status = errors.status();
    let page = ImpersonatePage {
        layout: nav::layout(signed, format!("Impersonate in {}", tenant.name)),
        tenant,
        form,
        errors,
        issued,
    };
    render::page(status, &page.layout, &page)
}

/// `POST /tenants/{id}/impersonate`: issues the token (both audit logs record it) and
/// shows the button that opens the tenant's app with it in a new tab.
pub async fn impersonate(
    state: web::Data<AppState>,
    meta: RequestMeta,
    id: web::Path<String>,
    submitted: PortalForm<ImpersonateForm>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::Impersonate>()?;
    let tenant = load(&state, &signed, &id).await?;
    let minutes = match form.minutes.trim() {
        "" => None,
        text => match text.parse::<u64>() {
            Ok(minutes) => Some(minutes),
            Err(_) => {
                let mut errors = FormErrors::default();
                errors.add("minutes", "must be a whole number of minutes");
                return Ok(impersonate_page(&signed, tenant, form, errors, None));
            }
        },
    };
    let request = ImpersonationRequest {
        user_email: form.user_email.trim().to_owned(),
        reason: form.reason.clone(),
        minutes,
    };
    match impersonation::impersonate_user(&state, &admin, &meta, tenant.id, request).await {
        Ok(token) => {
            // The button posts the token to the tenant's own host: the one origin this
            // page's forms may reach beside ours.
            let origin = state.config.tenant_origin.tenant_url(&tenant.slug);
            let issued = Issued {
                token,
                app_url: format!("{origin}/impersonate"),
            };
            let mut page =
                impersonate_page(&signed, tenant, form, FormErrors::default(), Some(issued));
            render::allow_form_target(&mut page, &origin);
            Ok(page)
        }
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("user_not_found", "user_email")])?;
            Ok(impersonate_page(&signed, tenant, form, errors, None))
        }
    }
}

// ---- back up now -----------------------------------------------------------------------

/// `POST /tenants/{id}/backups`: queues a backup now (the button on the tenant's page).
pub async fn back_up(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    id: web::Path<String>,
    submitted: PortalForm<crate::portal::sign_in::NoFields>,
) -> PageResult {
    let admin = submitted.signed.authorize::<perm::ManageTenants>()?;
    let id = tenant_id(&id)?;
    crate::api::backups::request_backup(&state, &admin, &meta, id).await?;
    Ok(render::redirect(
        &request,
        &format!("/tenants/{id}"),
        Some(Flash::success("Backup queued: it appears below when done.")),
    ))
}

async fn load(state: &AppState, signed: &Signed, id: &str) -> Result<TenantView, PageError> {
    let reader = signed.authorize::<perm::Read>()?;
    Ok(api::show_tenant(&state.db, &reader, tenant_id(id)?).await?)
}
