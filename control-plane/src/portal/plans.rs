//! The plans pages: every plan with its price, trial, features and limits; create and
//! edit forms that call the admin API's own `create_plan` / `update_plan`, so a refused
//! value is shown next to its field with the API's own message (`limits.max_users`, ...),
//! the typed values kept.

use crate::api::meta::RequestMeta;
use crate::api::plans::{self as api, Limits, LimitsPatch, NewPlan, PlanPatch, PlanView};
use crate::auth::guard::perm;
use crate::auth::roles::Action;
use crate::bootstrap::ALL_MODULES;
use crate::portal::errors::PageResult;
use crate::portal::nav;
use crate::portal::session::{PortalForm, Signed};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use std::collections::BTreeMap;

/// The limit fields, as the API names them, with their labels.
const LIMITS: [(&str, &str); 6] = [
    ("limits.max_users", "Users"),
    ("limits.max_storage_mb", "Storage (MB)"),
    ("limits.api_requests_per_minute", "API requests per minute"),
    ("limits.api_calls_per_month", "API calls per month"),
    ("limits.max_concurrent_requests", "Concurrent requests"),
    ("limits.max_db_connections", "Database connections"),
];

/// The plain number fields outside `limits`.
const NUMBERS: [(&str, &str); 4] = [
    ("trial_days", "Trial days"),
    ("price_cents", "Price (cents per month)"),
    ("backup_interval_hours", "Hours between backups (0: none)"),
    ("backup_retention_count", "Backups kept"),
];

/// Registers the plans pages (`/plans/new` before `/plans/{code}`).
pub fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/plans", web::get().to(list))
        .route("/plans", web::post().to(create))
        .route("/plans/new", web::get().to(new_form))
        .route("/plans/{code}", web::get().to(edit_form))
        .route("/plans/{code}", web::post().to(edit));
}

#[derive(Template)]
#[template(path = "portal/plans/list.html")]
struct ListPage {
    layout: Layout,
    plans: Vec<PlanView>,
    can_manage: bool,
}

impl ListPage {
    fn price(plan: &PlanView) -> String {
        format!(
            "{}.{:02} {}",
            plan.price_cents / 100,
            plan.price_cents % 100,
            plan.currency.to_uppercase()
        )
    }
}

/// `GET /plans`.
pub async fn list(state: web::Data<AppState>, signed: Signed) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let page = ListPage {
        layout: nav::layout(&signed, "Plans"),
        plans: api::list_plans(&state, &reader).await?.items,
        can_manage: signed.can(Action::ManagePlans),
    };
    Ok(render::page(StatusCode::OK, &page.layout, &page))
}

/// A submitted (or prefilled) plan form: every value as typed, features as checked.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    values: BTreeMap<String, String>,
    features: Vec<String>,
}

impl Fields {
    fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        let mut fields = Self::default();
        for (name, value) in pairs {
            if name == "features" {
                fields.features.push(value);
            } else {
                fields.values.insert(name, value);
            }
        }
        fields
    }

    fn of(plan: &PlanView) -> Self {
        let limits = &plan.limits;
        let text = |pairs: &[(&str, String)]| {
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let mut values = text(&[
            ("code", plan.code.clone()),
            ("name", plan.name.clone()),
            ("description", plan.description.clone()),
            ("currency", plan.currency.clone()),
            (
                "stripe_price_id",
                plan.stripe_price_id.clone().unwrap_or_default(),
            ),
            ("trial_days", plan.trial_days.to_string()),
            ("price_cents", plan.price_cents.to_string()),
            (
                "backup_interval_hours",
                plan.backup_interval_hours.to_string(),
            ),
            (
                "backup_retention_count",
                plan.backup_retention_count.to_string(),
            ),
            ("limits.max_users", limits.max_users.to_string()),
            ("limits.max_storage_mb", limits.max_storage_mb.to_string()),
            (
                "limits.api_requests_per_minute",
                limits.api_requests_per_minute.to_string(),
            ),
            (
                "limits.api_calls_per_month",
                limits.api_calls_per_month.to_string(),
            ),
            (
                "limits.max_concurrent_requests",
                limits.max_concurrent_requests.to_string(),
            ),
            (
                "limits.max_db_connections",
                limits.max_db_connections.to_string(),
            ),
        ]);
        if plan.is_public {
            values.insert("is_public".into(), "true".into());
        }
        if plan.archived {
            values.insert("archived".into(), "true".into());
        }
        Self {
            values,
            features: plan.features.clone(),
        }
    }

    /// A new plan's defaults: public, USD, seven backups kept.
    fn fresh() -> Self {
        let mut fields = Self::default();
        for (name, value) in [
            ("currency", "usd"),
            ("is_public", "true"),
            ("backup_retention_count", "7"),
            ("trial_days", "0"),
            ("price_cents", "0"),
            ("backup_interval_hours", "0"),
        ] {
            fields.values.insert(name.into(), value.into());
        }
        fields
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    pub fn checked(&self, name: &str) -> bool {
        self.get(name) == "true"
    }

    pub fn has_feature(&self, module: &&str) -> bool {
        self.features.iter().any(|feature| feature == module)
    }

    fn text(&self, name: &str) -> String {
        self.get(name).trim().to_owned()
    }

    /// The number in `name`, or an error next to it ("" is `None`).
    fn number(&self, name: &str, errors: &mut FormErrors) -> Option<i64> {
        let text = self.text(name);
        if text.is_empty() {
            errors.add(name, "is required");
            return None;
        }
        match text.parse() {
            Ok(number) => Some(number),
            Err(_) => {
                errors.add(name, "must be a whole number");
                None
            }
        }
    }

    /// Every number field, parsed; `None` (errors filled in) if one is not a number.
    fn numbers(&self, errors: &mut FormErrors) -> Option<BTreeMap<&'static str, i64>> {
        let parsed: BTreeMap<_, _> = LIMITS
            .iter()
            .chain(NUMBERS.iter())
            .map(|(name, _)| (*name, self.number(name, errors)))
            .collect();
        parsed
            .into_iter()
            .map(|(name, number)| number.map(|number| (name, number)))
            .collect()
    }

    fn new_plan(&self, errors: &mut FormErrors) -> Option<NewPlan> {
        let numbers = self.numbers(errors)?;
        let price = self.text("stripe_price_id");
        Some(NewPlan {
            code: self.text("code"),
            name: self.text("name"),
            description: self.get("description").to_owned(),
            limits: limits(&numbers),
            features: self.features.clone(),
            trial_days: numbers["trial_days"],
            price_cents: numbers["price_cents"],
            currency: self.text("currency"),
            stripe_price_id: (!price.is_empty()).then_some(price),
            is_public: self.checked("is_public"),
            backup_interval_hours: numbers["backup_interval_hours"],
            backup_retention_count: numbers["backup_retention_count"],
        })
    }

    fn patch(&self, errors: &mut FormErrors) -> Option<PlanPatch> {
        let numbers = self.numbers(errors)?;
        let limits = limits(&numbers);
        let price = self.text("stripe_price_id");
        Some(PlanPatch {
            name: Some(self.text("name")),
            description: Some(self.get("description").to_owned()),
            limits: LimitsPatch {
                max_users: Some(limits.max_users),
                max_storage_mb: Some(limits.max_storage_mb),
                api_requests_per_minute: Some(limits.api_requests_per_minute),
                api_calls_per_month: Some(limits.api_calls_per_month),
                max_concurrent_requests: Some(limits.max_concurrent_requests),
                max_db_connections: Some(limits.max_db_connections),
            },
            features: Some(self.features.clone()),
            trial_days: Some(numbers["trial_days"]),
            price_cents: Some(numbers["price_cents"]),
            stripe_price_id: Some((!price.is_empty()).then_some(price)),
            is_public: Some(self.checked("is_public")),
            archived: Some(self.checked("archived")),
            backup_interval_hours: Some(numbers["backup_interval_hours"]),
            backup_retention_count: Some(numbers["backup_retention_count"]),
        })
    }
}

fn limits(numbers: &BTreeMap<&'static str, i64>) -> Limits {
    Limits {
        max_users: numbers["limits.max_users"],
        max_storage_mb: numbers["limits.max_storage_mb"],
        api_requests_per_minute: numbers["limits.api_requests_per_minute"],
        api_calls_per_month: numbers["limits.api_calls_per_month"],
        max_concurrent_requests: numbers["limits.max_concurrent_requests"],
        max_db_connections: numbers["limits.max_db_connections"],
    }
}

#[derive(Template)]
#[template(path = "portal/plans/form.html")]
struct FormPage {
    layout: Layout,
    /// `None`: a new plan; else the code of the plan edited.
    editing: Option<String>,
    fields: Fields,
    errors: FormErrors,
    limits: &'static [(&'static str, &'static str)],
    numbers: &'static [(&'static str, &'static str)],
    modules: &'static [&'static str],
    can_manage: bool,
}

fn form_page(
    signed: &Signed,
    editing: Option<String>,
    fields: Fields,
    errors: FormErrors,
) -> PageResult {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let title = match &editing {
        Some(code) => format!("Plan {code}"),
        None => "New plan".to_owned(),
    };
    let page = FormPage {
        layout: nav::layout(signed, title),
        editing,
        fields,
        errors,
        limits: &LIMITS,
        numbers: &NUMBERS,
        modules: ALL_MODULES,
        can_manage: signed.can(Action::ManagePlans),
    };
    Ok(render::page(status, &page.layout, &page))
}

/// The API's conflicts that belong to one field.
const FIELD_CODES: [(&str, &str); 2] =
    [("plan_exists", "code"), ("price_in_use", "stripe_price_id")];

/// `GET /plans/new`.
pub async fn new_form(signed: Signed) -> PageResult {
    signed.authorize::<perm::ManagePlans>()?;
    form_page(&signed, None, Fields::fresh(), FormErrors::default())
}

/// `POST /plans`.
pub async fn create(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    submitted: PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManagePlans>()?;
    let fields = Fields::from_pairs(form);
    let mut errors = FormErrors::default();
    let Some(plan) = fields.new_plan(&mut errors) else {
        return form_page(&signed, None, fields, errors);
    };
    match api::create_plan(&state, &admin, &meta, plan).await {
        Ok(plan) => Ok(render::redirect(
            &request,
            "/plans",
            Some(Flash::success(format!("Plan {} created.", plan.code))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &FIELD_CODES)?;
            form_page(&signed, None, fields, errors)
        }
    }
}

/// `GET /plans/{code}`: the plan's edit form (read-only for roles that may not change it).
pub async fn edit_form(
    state: web::Data<AppState>,
    signed: Signed,
    code: web::Path<String>,
) -> PageResult {
    let reader = signed.authorize::<perm::Read>()?;
    let plan = api::show_plan(&state, &reader, &code).await?;
    form_page(
        &signed,
        Some(plan.code.clone()),
        Fields::of(&plan),
        FormErrors::default(),
    )
}

/// `POST /plans/{code}`.
pub async fn edit(
    state: web::Data<AppState>,
    request: HttpRequest,
    meta: RequestMeta,
    code: web::Path<String>,
    submitted: PortalForm<Vec<(String, String)>>,
) -> PageResult {
    let PortalForm { signed, form, .. } = submitted;
    let admin = signed.authorize::<perm::ManagePlans>()?;
    let mut fields = Fields::from_pairs(form);
    fields.values.insert("code".into(), code.to_string());
    let mut errors = FormErrors::default();
    let Some(patch) = fields.patch(&mut errors) else {
        return form_page(&signed, Some(code.into_inner()), fields, errors);
    };
    match api::update_plan(&state, &admin, &meta, &code, patch).await {
        Ok(plan) => Ok(render::redirect(
            &request,
            "/plans",
            Some(Flash::success(format!("Plan {} saved.", plan.code))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &FIELD_CODES)?;
            form_page(&signed, Some(code.into_inner()), fields, errors)
        }
    }
}
