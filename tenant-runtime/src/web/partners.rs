//! Partners pages: the list (search, role filter, keyset paging by code) with a form to
//! add a partner, and a partner's page with its edit form and addresses. Both call
//! `erp::masters::partners`, the same functions as the API.

use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::masters::PageQuery;
use crate::erp::masters::partners::{
    self, NewPartner, Partner, PartnerChanges, PartnerFilter, PartnerRole,
};
use crate::web::errors::PageResult;
use crate::web::nav;
use crate::web::session::{AppForm, Signed};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, web};
use askama::Template;
use common::api_error::ApiError;
use common::web::flash::Flash;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::paging::Pager;
use common::web::render;
use serde::Deserialize;
use uuid::Uuid;

#[derive(Template)]
#[template(path = "app/partners/list.html")]
struct ListPage {
    layout: Layout,
    partners: Vec<Partner>,
    q: String,
    role: String,
    pager: Pager,
    may_write: bool,
    form: PartnerForm,
    errors: FormErrors,
}

#[derive(Template)]
#[template(path = "app/partners/show.html")]
struct PartnerPage {
    layout: Layout,
    partner: Partner,
    may_write: bool,
    form: PartnerForm,
    errors: FormErrors,
}

/// `?q=&role=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    role: String,
    cursor: Option<String>,
}

/// The add and edit forms' fields, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PartnerForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    is_customer: Option<String>,
    #[serde(default)]
    is_supplier: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    payment_terms_days: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    active: String,
}

impl PartnerForm {
    fn of(partner: &Partner) -> Self {
        let on = |flag: bool| flag.then(|| "on".to_owned());
        Self {
            code: partner.code.clone(),
            name: partner.name.clone(),
            is_customer: on(partner.is_customer),
            is_supplier: on(partner.is_supplier),
            email: partner.email.clone(),
            phone: partner.phone.clone(),
            payment_terms_days: partner.payment_terms_days.to_string(),
            notes: partner.notes.clone(),
            active: partner.active.to_string(),
        }
    }

    fn terms(&self) -> Result<i32, FormErrors> {
        let text = self.payment_terms_days.trim();
        if text.is_empty() {
            return Ok(30);
        }
        text.parse().map_err(|_| {
            let mut errors = FormErrors::default();
            errors.add("payment_terms_days", "a whole number of days, 0 to 365");
            errors
        })
    }
}

/// `GET /partners`.
pub async fn list(signed: Signed, query: web::Query<ListQuery>) -> PageResult {
    let form = PartnerForm {
        is_customer: Some("on".into()),
        payment_terms_days: "30".into(),
        ..PartnerForm::default()
    };
    list_page(signed, &query, form, FormErrors::default(), StatusCode::OK).await
}

async fn list_page(
    signed: Signed,
    query: &ListQuery,
    form: PartnerForm,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("master_data.write");
    let layout = nav::layout(&signed, "Partners");
    let auth = signed.authorize::<MasterDataRead>()?;
    let filter = PartnerFilter {
        q: Some(query.q.clone()),
        role: match query.role.as_str() {
            "customer" => Some(PartnerRole::Customer),
            "supplier" => Some(PartnerRole::Supplier),
            _ => None,
        },
        active: None,
    };
    let paging = PageQuery {
        limit: Some(50),
        after: query.cursor.clone().filter(|cursor| !cursor.is_empty()),
    };
    let page = partners::list(auth.current.db.client(), &filter, &paging).await?;
    let params = [
        ("q", query.q.clone()),
        ("role", query.role.clone()),
        ("cursor", query.cursor.clone().unwrap_or_default()),
    ];
    let page = ListPage {
        layout,
        pager: Pager::new("/partners", &params, page.next.as_deref()),
        partners: page.items,
        q: query.q.clone(),
        role: query.role.clone(),
        may_write,
        form,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /partners`: adds a partner.
pub async fn create(request: HttpRequest, submitted: AppForm<PartnerForm>) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let payment_terms_days = match form.terms() {
        Ok(days) => days,
        Err(errors) => {
            return list_page(
                signed,
                &ListQuery::default(),
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let input = NewPartner {
        code: form.code.trim().to_owned(),
        name: form.name.clone(),
        is_customer: form.is_customer.is_some(),
        is_supplier: form.is_supplier.is_some(),
        email: form.email.trim().to_owned(),
        phone: form.phone.clone(),
        tax_id: String::new(),
        payment_terms_days,
        notes: form.notes.clone(),
        active: true,
        addresses: Vec::new(),
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let created = async {
        let transaction = current.db.begin().await?;
        let partner = partners::create(&transaction, &actor, input).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(partner)
    }
    .await;
    match created {
        Ok(partner) => Ok(render::redirect(
            &request,
            &format!("/partners/{}", partner.id),
            Some(Flash::success(format!("Partner {} added.", partner.code))),
        )),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("partner_code_taken", "code")])?;
            let signed = Signed::again(&request).await?;
            list_page(
                signed,
                &ListQuery::default(),
                form,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `GET /partners/{id}`.
pub async fn show(signed: Signed, id: web::Path<Uuid>) -> PageResult {
    partner_page(signed, *id, None, FormErrors::default(), StatusCode::OK).await
}

async fn partner_page(
    signed: Signed,
    id: Uuid,
    form: Option<PartnerForm>,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let may_write = signed.can("master_data.write");
    let layout = nav::layout(&signed, "Partner");
    let auth = signed.authorize::<MasterDataRead>()?;
    let partner = partners::find(auth.current.db.client(), id).await?;
    let page = PartnerPage {
        layout: Layout {
            title: format!("{} {}", partner.code, partner.name),
            ..layout
        },
        form: form.unwrap_or_else(|| PartnerForm::of(&partner)),
        partner,
        may_write,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `POST /partners/{id}`: saves the edit form (addresses are kept).
pub async fn update(
    request: HttpRequest,
    id: web::Path<Uuid>,
    submitted: AppForm<PartnerForm>,
) -> PageResult {
    let AppForm { signed, form, .. } = submitted;
    let payment_terms_days = match form.terms() {
        Ok(days) => days,
        Err(errors) => {
            return partner_page(
                signed,
                *id,
                Some(form),
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    let changes = PartnerChanges {
        name: Some(form.name.clone()),
        is_customer: Some(form.is_customer.is_some()),
        is_supplier: Some(form.is_supplier.is_some()),
        email: Some(form.email.trim().to_owned()),
        phone: Some(form.phone.clone()),
        payment_terms_days: Some(payment_terms_days),
        notes: Some(form.notes.clone()),
        active: Some(form.active == "true"),
        ..PartnerChanges::default()
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let saved = async {
        let transaction = current.db.begin().await?;
        let partner = partners::update(&transaction, &actor, *id, changes).await?;
        transaction.commit().await?;
        Ok::<_, ApiError>(partner)
    }
    .await;
    match saved {
        Ok(partner) => Ok(render::redirect(
            &request,
            &format!("/partners/{}", partner.id),
            Some(Flash::success("Saved.")),
        )),
        Err(error) => {
            let status = actix_web::ResponseError::status_code(&error);
            let errors = FormErrors::from_api_error(error, &[])?;
            let signed = Signed::again(&request).await?;
            partner_page(signed, *id, Some(form), errors, status).await
        }
    }
}
