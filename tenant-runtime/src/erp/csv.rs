//! CSV downloads and uploads, for master data now and the stock reports later.
//!
//! - [`neutralize`] / [`restore`]: OWASP's rule against formula injection (in
//!   `parsers::csv`, with the reading and writing, where they are fuzzed). Imports undo
//!   it, so importing an export changes nothing.
//! - [`download`]: a streamed `text/csv` attachment. Rows are fetched in keyset batches
//!   as the client reads, never the whole table in memory.
//! - [`read_capped`], [`Table`], [`ImportReport`]: an upload read as a stream up to a hard
//!   cap (413 `payload_too_large` past it, the rest never read), its header checked
//!   against the expected columns (any order; 422 `csv_header_invalid` naming missing and
//!   unknown ones), then its rows with their line numbers as a spreadsheet shows them
//!   (the header is line 1).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use common::api_error::{ApiError, ApiResult};
use common::problem::{FieldError, Problem};
use futures_util::StreamExt as _;
use parsers::csv::{HeaderMismatch, Records};
pub use parsers::csv::{neutralize, restore};
use serde::{Deserialize, Serialize};
use std::future::Future;
use utoipa::{IntoParams, ToSchema};

/// The largest upload an import reads: 50 MB.
pub const MAX_IMPORT_BYTES: usize = 50 * 1024 * 1024;

/// One batch of rows for [`download`], and the key to fetch the next one after (`None`:
/// this was the last).
pub struct Batch {
    pub rows: Vec<Vec<String>>,
    pub next: Option<String>,
}

/// A streamed CSV attachment named `filename`: `header`, then the rows `fetch` returns,
/// called with `None` first and then with each batch's `next` until there is none. An
/// error after the first bytes can only cut the download short (it is logged).
pub fn download<F, Fut>(filename: &str, header: &[&str], mut fetch: F) -> HttpResponse
where
    F: FnMut(Option<String>) -> Fut + 'static,
    Fut: Future<Output = ApiResult<Batch>> + 'static,
{
    let head: Vec<String> = header.iter().map(|column| (*column).to_owned()).collect();
    let first = encode(&[head]);
    let header_line = futures_util::stream::once(async move { first });
    // The state: `None` when done, else the key to fetch after (`None` at the start).
    let rows = futures_util::stream::unfold(Some(None), move |state: Option<Option<String>>| {
        let pending = state.map(&mut fetch);
        async move {
            match pending?.await {
                Ok(batch) => {
                    let next = batch.next.map(Some);
                    Some((encode(&batch.rows), next))
                }
                Err(error) => {
                    tracing::error!(%error, "a CSV download failed midway");
                    Some((Err(actix_web::Error::from(error)), None))
                }
            }
        }
    });
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"{filename}\""),
        ))
        .streaming(header_line.chain(rows))
}

/// `rows` as CSV text, every cell neutralized.
fn encode(rows: &[Vec<String>]) -> Result<Bytes, actix_web::Error> {
    parsers::csv::encode(rows)
        .map(Bytes::from)
        .map_err(|error| actix_web::Error::from(ApiError::internal(error)))
}

/// The request body, read chunk by chunk: 413 `payload_too_large` as soon as it passes
/// `cap` bytes (what is left is never read).
pub async fn read_capped(mut payload: web::Payload, cap: usize) -> ApiResult<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_unreadable",
                format!("the upload could not be read: {error}"),
            )
        })?;
        if body.len() + chunk.len() > cap {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the file is larger than {} MB", cap / (1024 * 1024)),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// How an import treats bad rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportMode {
    /// Any bad row: nothing is applied (`applied: false`, still a 200 with the report).
    AllOrNothing,
    /// The good rows are applied, the bad ones reported.
    ValidRowsOnly,
}

/// `?mode=`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ImportQuery {
    pub mode: ImportMode,
}

/// One problem of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowError {
    /// As a spreadsheet numbers it: the header is line 1.
    pub line: u64,
    /// The column's header name (empty when the row as a whole is wrong).
    pub column: String,
    pub message: String,
}

/// What an import did (or, with `applied: false`, would have done).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    pub mode: ImportMode,
    /// Data rows read (the header not counted).
    pub rows: u64,
    pub created: u64,
    pub updated: u64,
    /// Rows equal to what is stored already.
    pub unchanged: u64,
    pub rejected: u64,
    /// Whether the changes were committed: false in `all_or_nothing` mode with a bad row.
    pub applied: bool,
    pub errors: Vec<RowError>,
}

/// What applying one good row did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
}

impl ImportReport {
    pub fn new(mode: ImportMode) -> Self {
        Self {
            mode,
            rows: 0,
            created: 0,
            updated: 0,
            unchanged: 0,
            rejected: 0,
            applied: false,
            errors: Vec::new(),
        }
    }

    pub fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
        }
    }

    pub fn reject(&mut self, errors: Vec<RowError>) {
        self.rejected += 1;
        self.errors.extend(errors);
    }

    /// Whether the transaction holding the good rows should commit.
    pub fn should_commit(&self) -> bool {
        self.mode == ImportMode::ValidRowsOnly || self.rejected == 0
    }
}

/// One data row: its line and its cells in the order of the expected header, each already
/// [`restore`]d.
pub struct Row {
    pub line: u64,
    pub cells: Vec<String>,
}

impl Row {
    /// A problem with cell `column` of this row.
    pub fn error(&self, column: &str, message: impl Into<String>) -> RowError {
        RowError {
            line: self.line,
            column: column.to_owned(),
            message: message.into(),
        }
    }
}

/// An uploaded CSV whose header has the expected columns.
pub struct Table<'a> {
    records: Records<'a>,
}

impl<'a> Table<'a> {
    /// Reads the header of `body`: 422 `csv_header_invalid` unless it holds exactly the
    /// `expected` columns (in any order), naming the missing and unknown ones.
    pub fn open(body: &'a [u8], expected: &[&str]) -> ApiResult<Self> {
        let records = Records::open(body, expected).map_err(|m| header_invalid(&m, expected))?;
        Ok(Self { records })
    }

    /// The next data row (an error naming its line when it cannot be read as one), or
    /// `None` at the end. Blank lines are skipped.
    pub fn next_row(&mut self) -> Option<Result<Row, RowError>> {
        let next = self.records.next_record()?;
        Some(
            next.map(|record| Row {
                line: record.line,
                cells: record.cells,
            })
            .map_err(|unreadable| RowError {
                line: unreadable.line,
                column: String::new(),
                message: unreadable.message,
            }),
        )
    }
}

/// The 422 naming the missing and the unknown (or repeated) columns.
fn header_invalid(mismatch: &HeaderMismatch, expected: &[&str]) -> ApiError {
    let mut problem = Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "csv_header_invalid",
        format!(
            "the header must hold exactly these columns: {}; missing: [{}], unknown or repeated: [{}]",
            expected.join(","),
            mismatch.missing.join(","),
            mismatch.unknown.join(",")
        ),
    );
    problem.errors = mismatch
        .missing
        .iter()
        .map(|column| FieldError {
            field: column.clone(),
            message: "missing column".into(),
        })
        .chain(mismatch.unknown.iter().map(|column| FieldError {
            field: column.clone(),
            message: "unknown or repeated column".into(),
        }))
        .collect();
    ApiError::problem(problem)
}

/// `true`/`false` (also `yes`/`no`, `1`/`0`, any case) as a CSV cell.
pub fn parse_bool(cell: &str) -> Result<bool, String> {
    match cell.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err("must be true or false".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_cell_is_neutralized_and_restored_exactly() {
        for cell in [
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1)",
            "\tx",
            "\rx",
            "'=x",
            "'plain",
        ] {
            let safe = neutralize(cell);
            assert!(safe.starts_with('\''), "{cell:?}");
            assert_eq!(restore(&safe), cell);
        }
        assert_eq!(neutralize("Bolt"), "Bolt");
        assert_eq!(restore("Bolt"), "Bolt");
    }

    #[test]
    fn a_header_in_another_order_is_accepted() {
        let table = Table::open(b"b,a\n2,1\n", &["a", "b"]);
        let mut table = table.ok().unwrap();
        let row = table.next_row().unwrap().ok().unwrap();
        assert_eq!(row.cells, ["1", "2"]);
        assert_eq!(row.line, 2);
    }

    #[test]
    fn a_wrong_header_names_the_missing_and_unknown_columns() {
        let Err(ApiError::Client(problem)) = Table::open(b"a,c\n", &["a", "b"]) else {
            panic!("refused")
        };
        assert_eq!(problem.code, "csv_header_invalid");
        assert!(
            problem.detail.contains("missing: [b]"),
            "{}",
            problem.detail
        );
        assert!(problem.detail.contains("[c]"), "{}", problem.detail);
    }

    #[test]
    fn line_numbers_count_the_header_and_multi_line_cells() {
        let body = b"a,b\n1,\"two\nlines\"\n3\n5,6\n";
        let mut table = Table::open(body, &["a", "b"]).ok().unwrap();
        assert_eq!(table.next_row().unwrap().ok().unwrap().line, 2);
        assert_eq!(table.next_row().unwrap().err().unwrap().line, 4);
        assert_eq!(table.next_row().unwrap().ok().unwrap().line, 5);
    }

    #[test]
    fn an_all_or_nothing_import_with_a_bad_row_does_not_commit() {
        let mut report = ImportReport::new(ImportMode::AllOrNothing);
        report.count(Outcome::Created);
        assert!(report.should_commit());
        report.reject(Vec::new());
        assert!(!report.should_commit());
        let mut lenient = ImportReport::new(ImportMode::ValidRowsOnly);
        lenient.reject(Vec::new());
        assert!(lenient.should_commit());
    }
}
