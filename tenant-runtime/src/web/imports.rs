//! The CSV import page of items and partners: a file, a mode (all or nothing, or valid
//! rows only), and the report with each bad row's line, column and message. It calls the
//! same import functions as the API (`erp::masters::{items, partners}::import`) inside
//! one transaction, committed only when the report says the rows were applied. Also the
//! CSV downloads for signed-in users (the API's exports need a bearer token).

use crate::auth::perm::{MasterDataRead, MasterDataWrite};
use crate::erp::csv::{ImportMode, ImportReport, MAX_IMPORT_BYTES};
use crate::erp::masters::{items, partners};
use crate::web::errors::{PageError, PageResult};
use crate::web::nav;
use crate::web::session::Signed;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::web;
use askama::Template;
use common::api_error::{ApiError, ApiResult};
use common::web::csrf;
use common::web::form::FormErrors;
use common::web::layout::Layout;
use common::web::render;
use futures_util::StreamExt as _;

#[derive(Template)]
#[template(path = "app/import.html")]
struct ImportPage {
    layout: Layout,
    /// `items` or `partners`.
    what: &'static str,
    columns: String,
    report: Option<ImportReport>,
    errors: FormErrors,
}

/// Which list an import fills.
#[derive(Debug, Clone, Copy)]
enum Target {
    Items,
    Partners,
}

impl Target {
    fn parse(text: &str) -> Result<Self, PageError> {
        match text {
            "items" => Ok(Self::Items),
            "partners" => Ok(Self::Partners),
            _ => Err(PageError::Api(ApiError::not_found(
                "not_found",
                "no such import",
            ))),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Items => "items",
            Self::Partners => "partners",
        }
    }

    fn columns(self) -> String {
        match self {
            Self::Items => items::CSV_HEADER.join(","),
            Self::Partners => partners::CSV_HEADER.join(","),
        }
    }
}

fn layout(signed: &Signed, target: Target) -> Layout {
    nav::layout(signed, format!("Import {}", target.name()))
}

fn page(
    layout: Layout,
    target: Target,
    report: Option<ImportReport>,
    errors: FormErrors,
    status: StatusCode,
) -> PageResult {
    let page = ImportPage {
        layout,
        what: target.name(),
        columns: target.columns(),
        report,
        errors,
    };
    Ok(render::page(status, &page.layout, &page))
}

/// `GET /{items|partners}/import`.
pub async fn form(signed: Signed, what: web::Path<String>) -> PageResult {
    let target = Target::parse(&what)?;
    if !signed.can("master_data.write") {
        return Err(PageError::Api(ApiError::forbidden(
            "forbidden",
            "this needs the `master_data.write` permission",
        )));
    }
    page(
        layout(&signed, target),
        target,
        None,
        FormErrors::default(),
        StatusCode::OK,
    )
}

/// What the form sent: its CSRF token, the mode, and the file (at most 50 MB).
struct Upload {
    csrf: String,
    mode: String,
    file: Vec<u8>,
}

async fn read_upload(mut multipart: Multipart) -> ApiResult<Upload> {
    let mut upload = Upload {
        csrf: String::new(),
        mode: String::new(),
        file: Vec::new(),
    };
    while let Some(field) = multipart.next().await {
        let mut field = field.map_err(|error| ApiError::invalid("file", error.to_string()))?;
        let name = field.name().unwrap_or_default().to_owned();
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|error| ApiError::invalid("file", error.to_string()))?;
            if value.len() + chunk.len() > MAX_IMPORT_BYTES {
                return Err(ApiError::invalid("file", "the file is larger than 50 MB"));
            }
            value.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf" => upload.csrf = String::from_utf8_lossy(&value).into_owned(),
            "mode" => upload.mode = String::from_utf8_lossy(&value).into_owned(),
            "file" => upload.file = value,
            _ => {}
        }
    }
    Ok(upload)
}

/// `POST /{items|partners}/import`: runs the import and shows its report.
pub async fn submit(signed: Signed, what: web::Path<String>, multipart: Multipart) -> PageResult {
    let target = Target::parse(&what)?;
    let layout = layout(&signed, target);
    let upload = match read_upload(multipart).await {
        Ok(upload) => upload,
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[])?;
            return page(
                layout,
                target,
                None,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            );
        }
    };
    if !csrf::matches(&signed.session.csrf, Some(&upload.csrf)) {
        return Err(PageError::Csrf);
    }
    let mode = match upload.mode.as_str() {
        "valid_rows_only" => ImportMode::ValidRowsOnly,
        _ => ImportMode::AllOrNothing,
    };
    let auth = signed.authorize::<MasterDataWrite>()?;
    let mut current = auth.current;
    let actor = current.actor();
    let result = async {
        let transaction = current.db.begin().await?;
        let report = match target {
            Target::Items => items::import(&transaction, &actor, &upload.file, mode).await?,
            Target::Partners => partners::import(&transaction, &actor, &upload.file, mode).await?,
        };
        if report.applied {
            transaction.commit().await?;
        }
        Ok::<_, ApiError>(report)
    }
    .await;
    match result {
        Ok(report) => page(
            layout,
            target,
            Some(report),
            FormErrors::default(),
            StatusCode::OK,
        ),
        Err(error) => {
            let errors = FormErrors::from_api_error(error, &[("csv_header_invalid", "file")])?;
            page(
                layout,
                target,
                None,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
        }
    }
}

/// `GET /{items|partners}/export`: the same streamed, neutralized CSV as the API's export.
pub async fn export(signed: Signed, what: web::Path<String>) -> PageResult {
    let target = Target::parse(&what)?;
    let auth = signed.authorize::<MasterDataRead>()?;
    let db = std::rc::Rc::new(auth.current.db);
    Ok(match target {
        Target::Items => crate::erp::csv::download("items.csv", &items::CSV_HEADER, move |after| {
            let db = db.clone();
            async move { items::export_batch(db.client(), after).await }
        }),
        Target::Partners => {
            crate::erp::csv::download("partners.csv", &partners::CSV_HEADER, move |after| {
                let db = db.clone();
                async move { partners::export_batch(db.client(), after).await }
            })
        }
    })
}
