//! Partners: customers, suppliers or both (at least one), with a code unique per company
//! regardless of case, contact details, payment terms and addresses (billing, shipping).
//! Deactivated, never deleted. Also their CSV form (addresses are not in it: they are
//! kept as they are by an import).

use super::{Page, PageQuery, check_code, check_name, check_text, page};
use crate::erp::csv::{self, Batch, ImportMode, ImportReport, Outcome, Row, RowError, Table};
use common::api_error::{ApiError, ApiResult};
use common::problem::{FieldError, Problem};
use common::tenant_audit::{self as audit, Actor};
use serde::{Deserialize, Serialize};
use tokio_postgres::GenericClient;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The CSV columns, in the order exports write them (imports take any order).
pub const CSV_HEADER: [&str; 10] = [
    "code",
    "name",
    "is_customer",
    "is_supplier",
    "email",
    "phone",
    "tax_id",
    "payment_terms_days",
    "notes",
    "active",
];

const EXPORT_BATCH: i64 = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    Billing,
    Shipping,
}

impl AddressKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Billing => "billing",
            Self::Shipping => "shipping",
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Address {
    pub id: Uuid,
    pub kind: AddressKind,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    pub kind: AddressKind,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub line1: String,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub line2: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    pub city: String,
    #[serde(default)]
    #[schema(max_length = 20)]
    pub postal_code: String,
    /// ISO 3166 alpha-2, upper case, or empty.
    #[serde(default)]
    #[schema(pattern = "^([A-Z]{2})?$")]
    pub country: String,
    /// At most one default address of each kind.
    #[serde(default)]
    pub is_default: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Partner {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub is_customer: bool,
    pub is_supplier: bool,
    pub email: String,
    pub phone: String,
    pub tax_id: String,
    pub payment_terms_days: i32,
    pub notes: String,
    pub active: bool,
    pub addresses: Vec<Address>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPartner {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$")]
    pub code: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: String,
    /// At least one of `is_customer` and `is_supplier`.
    #[serde(default)]
    pub is_customer: bool,
    #[serde(default)]
    pub is_supplier: bool,
    /// An email address, or empty.
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: String,
    #[serde(default)]
    #[schema(max_length = 50)]
    pub phone: String,
    #[serde(default)]
    #[schema(max_length = 50)]
    pub tax_id: String,
    #[serde(default = "thirty")]
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: i32,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub notes: String,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub addresses: Vec<NewAddress>,
}

fn thirty() -> i32 {
    30
}

fn yes() -> bool {
    true
}

/// The fields a PATCH may change; absent ones keep their value. The code never changes.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerChanges {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    pub name: Option<String>,
    pub is_customer: Option<bool>,
    pub is_supplier: Option<bool>,
    #[schema(max_length = 254)]
    pub email: Option<String>,
    #[schema(max_length = 50)]
    pub phone: Option<String>,
    #[schema(max_length = 50)]
    pub tax_id: Option<String>,
    #[schema(minimum = 0, maximum = 365)]
    pub payment_terms_days: Option<i32>,
    #[schema(max_length = 2000)]
    pub notes: Option<String>,
    pub active: Option<bool>,
    /// Replaces every address.
    pub addresses: Option<Vec<NewAddress>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerRole {
    Customer,
    Supplier,
}

/// `GET /partners` filters.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct PartnerFilter {
    /// Part of the code or the name, any case.
    pub q: Option<String>,
    pub role: Option<PartnerRole>,
    pub active: Option<bool>,
}

const SELECT: &str = "SELECT p.id, p.code, p.name, p.is_customer, p.is_supplier, p.email, \
      p.phone, p.tax_id, p.payment_terms_days, p.notes, p.active FROM partners p";

fn partner(row: &tokio_postgres::Row) -> Partner {
    Partner {
        id: row.get(0),
        code: row.get(1),
        name: row.get(2),
        is_customer: row.get(3),
        is_supplier: row.get(4),
        email: row.get(5),
        phone: row.get(6),
        tax_id: row.get(7),
        payment_terms_days: row.get(8),
        notes: row.get(9),
        active: row.get(10),
        addresses: Vec::new(),
    }
}

/// Fills in the addresses of `partners` in one query.
async fn with_addresses(
    db: &impl GenericClient,
    mut partners: Vec<Partner>,
) -> ApiResult<Vec<Partner>> {
    let ids: Vec<Uuid> = partners.iter().map(|p| p.id).collect();
    let rows = db
        .query(
            "SELECT partner_id, id, kind, line1, line2, city, postal_code, country, is_default \
             FROM partner_addresses WHERE partner_id = ANY($1) ORDER BY kind, id",
            &[&ids],
        )
        .await?;
    for row in rows {
        let owner: Uuid = row.get(0);
        let kind: String = row.get(2);
        let address = Address {
            id: row.get(1),
            kind: if kind == "billing" {
                AddressKind::Billing
            } else {
                AddressKind::Shipping
            },
            line1: row.get(3),
            line2: row.get(4),
            city: row.get(5),
            postal_code: row.get(6),
            country: row.get(7),
            is_default: row.get(8),
        };
        if let Some(partner) = partners.iter_mut().find(|p| p.id == owner) {
            partner.addresses.push(address);
        }
    }
    Ok(partners)
}

/// A page of partners by code (any case), filtered.
pub async fn list(
    db: &impl GenericClient,
    filter: &PartnerFilter,
    paging: &PageQuery,
) -> ApiResult<Page<Partner>> {
    let limit = paging.limit()?;
    let after = paging.after()?;
    let q = super::search_term(filter.q.as_deref());
    let role = filter.role.map(|role| match role {
        PartnerRole::Customer => "customer",
        PartnerRole::Supplier => "supplier",
    });
    let sql = format!(
        "{SELECT} WHERE ($1::text IS NULL OR strpos(lower(p.code), $1) > 0 \
                                     OR strpos(lower(p.name), $1) > 0) \
           AND ($2::text IS NULL OR ($2 = 'customer' AND p.is_customer) \
                                 OR ($2 = 'supplier' AND p.is_supplier)) \
           AND ($3::bool IS NULL OR p.active = $3) \
           AND ($4::text IS NULL OR lower(p.code) > $4) \
         ORDER BY lower(p.code) LIMIT $5"
    );
    let rows = db
        .query(&sql, &[&q, &role, &filter.active, &after, &(limit + 1)])
        .await?;
    let partners = with_addresses(db, rows.iter().map(partner).collect()).await?;
    Ok(page(partners, limit, |p| p.code.to_lowercase()))
}

/// One partner: 404 `partner_not_found`.
pub async fn find(db: &impl GenericClient, id: Uuid) -> ApiResult<Partner> {
    let found = db
        .query_opt(&format!("{SELECT} WHERE p.id = $1"), &[&id])
        .await?
        .map(|row| partner(&row))
        .ok_or_else(|| ApiError::not_found("partner_not_found", "no partner has this id"))?;
    let mut all = with_addresses(db, vec![found]).await?;
    all.pop()
        .ok_or_else(|| ApiError::not_found("partner_not_found", "no partner has this id"))
}

/// Every rule the tables hold, as field errors (none: valid). The email, when given, is
/// normalized (lower case) in place.
pub fn check(input: &mut NewPartner) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let mut add = |field: &str, result: Result<(), String>| {
        if let Err(message) = result {
            errors.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
    };
    add("code", check_code(&input.code, 64));
    add("name", check_name(&input.name, 200));
    if !input.is_customer && !input.is_supplier {
        add(
            "is_customer",
            Err("a partner is a customer, a supplier or both".into()),
        );
    }
    if input.email.contains('\0') {
        add("email", Err("not an email address".into()));
    } else if !input.email.is_empty() {
        match common::ids::normalize_email(&input.email) {
            Some(email) => input.email = email,
            None => add("email", Err("not an email address".into())),
        }
    }
    add("phone", check_text(&input.phone, 50));
    add("tax_id", check_text(&input.tax_id, 50));
    add("notes", check_text(&input.notes, 2000));
    if !(0..=365).contains(&input.payment_terms_days) {
        add("payment_terms_days", Err("0 to 365 days".into()));
    }
    add("addresses", check_addresses(&input.addresses));
    errors
}

fn check_addresses(addresses: &[NewAddress]) -> Result<(), String> {
    for (index, address) in addresses.iter().enumerate() {
        let at = |message: String| format!("address {}: {message}", index + 1);
        check_name(&address.line1, 200).map_err(|m| at(format!("line1 {m}")))?;
        check_text(&address.line2, 200).map_err(|m| at(format!("line2 {m}")))?;
        check_text(&address.city, 100).map_err(|m| at(format!("city {m}")))?;
        check_text(&address.postal_code, 20).map_err(|m| at(format!("postal_code {m}")))?;
        let country_ok = address.country.is_empty()
            || (address.country.len() == 2
                && address.country.bytes().all(|b| b.is_ascii_uppercase()));
        if !country_ok {
            return Err(at("country must be two upper-case letters or empty".into()));
        }
    }
    for kind in [AddressKind::Billing, AddressKind::Shipping] {
        let defaults = addresses
            .iter()
            .filter(|a| a.kind == kind && a.is_default)
            .count();
        if defaults > 1 {
            return Err(format!("at most one default {} address", kind.as_str()));
        }
    }
    Ok(())
}

fn validate(input: &mut NewPartner) -> ApiResult<()> {
    let errors = check(input);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::problem(Problem::validation(errors)))
    }
}

/// Creates a partner: 409 `partner_code_taken` when the code exists in any case.
pub async fn create(
    db: &impl GenericClient,
    actor: &Actor,
    mut input: NewPartner,
) -> ApiResult<Partner> {
    validate(&mut input)?;
    let id = Uuid::now_v7();
    let inserted = db
        .execute(
            "INSERT INTO partners (id, code, name, is_customer, is_supplier, email, phone, \
               tax_id, payment_terms_days, notes, active) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT ((lower(code))) DO NOTHING",
            &[
                &id,
                &input.code,
                &input.name,
                &input.is_customer,
                &input.is_supplier,
                &input.email,
                &input.phone,
                &input.tax_id,
                &input.payment_terms_days,
                &input.notes,
                &input.active,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(ApiError::conflict(
            "partner_code_taken",
            format!(
                "a partner with code `{}` exists (codes ignore case)",
                input.code
            ),
        ));
    }
    set_addresses(db, id, &input.addresses).await?;
    let created = find(db, id).await?;
    record(db, actor, "partner.created", None, &created).await?;
    Ok(created)
}

/// Changes a partner.
pub async fn update(
    db: &impl GenericClient,
    actor: &Actor,
    id: Uuid,
    changes: PartnerChanges,
) -> ApiResult<Partner> {
    db.query_opt("SELECT 1 FROM partners WHERE id = $1 FOR UPDATE", &[&id])
        .await?
        .ok_or_else(|| ApiError::not_found("partner_not_found", "no partner has this id"))?;
    let before = find(db, id).await?;
    let addresses = changes.addresses.unwrap_or_else(|| {
        before
            .addresses
            .iter()
            .map(|a| NewAddress {
                kind: a.kind,
                line1: a.line1.clone(),
                line2: a.line2.clone(),
                city: a.city.clone(),
                postal_code: a.postal_code.clone(),
                country: a.country.clone(),
                is_default: a.is_default,
            })
            .collect()
    });
    let replace_addresses =
        addresses.len() != before.addresses.len() || changes_addresses(&before, &addresses);
    let mut merged = NewPartner {
        code: before.code.clone(),
        name: changes.name.unwrap_or_else(|| before.name.clone()),
        is_customer: changes.is_customer.unwrap_or(before.is_customer),
        is_supplier: changes.is_supplier.unwrap_or(before.is_supplier),
        email: changes.email.unwrap_or_else(|| before.email.clone()),
        phone: changes.phone.unwrap_or_else(|| before.phone.clone()),
        tax_id: changes.tax_id.unwrap_or_else(|| before.tax_id.clone()),
        payment_terms_days: changes
            .payment_terms_days
            .unwrap_or(before.payment_terms_days),
        notes: changes.notes.unwrap_or_else(|| before.notes.clone()),
        active: changes.active.unwrap_or(before.active),
        addresses,
    };
    validate(&mut merged)?;
    db.execute(
        "UPDATE partners SET name = $2, is_customer = $3, is_supplier = $4, email = $5, \
           phone = $6, tax_id = $7, payment_terms_days = $8, notes = $9, active = $10, \
           updated_at = now() WHERE id = $1",
        &[
            &id,
            &merged.name,
            &merged.is_customer,
            &merged.is_supplier,
            &merged.email,
            &merged.phone,
            &merged.tax_id,
            &merged.payment_terms_days,
            &merged.notes,
            &merged.active,
        ],
    )
    .await?;
    if replace_addresses {
        set_addresses(db, id, &merged.addresses).await?;
    }
    let after = find(db, id).await?;
    record(db, actor, "partner.updated", Some(&before), &after).await?;
    Ok(after)
}

/// Whether `addresses` differ from the stored ones (kept, ids and all, when they do not).
fn changes_addresses(before: &Partner, addresses: &[NewAddress]) -> bool {
    before.addresses.iter().zip(addresses).any(|(old, new)| {
        old.kind != new.kind
            || old.line1 != new.line1
            || old.line2 != new.line2
            || old.city != new.city
            || old.postal_code != new.postal_code
            || old.country != new.country
            || old.is_default != new.is_default
    })
}

async fn set_addresses(
    db: &impl GenericClient,
    partner: Uuid,
    addresses: &[NewAddress],
) -> ApiResult<()> {
    db.execute(
        "DELETE FROM partner_addresses WHERE partner_id = $1",
        &[&partner],
    )
    .await?;
    for address in addresses {
        db.execute(
            "INSERT INTO partner_addresses (id, partner_id, kind, line1, line2, city, \
               postal_code, country, is_default) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &Uuid::now_v7(),
                &partner,
                &address.kind.as_str(),
                &address.line1,
                &address.line2,
                &address.city,
                &address.postal_code,
                &address.country,
                &address.is_default,
            ],
        )
        .await?;
    }
    Ok(())
}

async fn record(
    db: &impl GenericClient,
    actor: &Actor,
    action: &str,
    before: Option<&Partner>,
    after: &Partner,
) -> ApiResult<()> {
    let entry = audit::Entry {
        action,
        target_kind: "partner",
        target_id: after.id.to_string(),
        before: before.map(|p| serde_json::json!(p)),
        after: Some(serde_json::json!(after)),
    };
    audit::record(db, actor, entry).await?;
    Ok(())
}

/// One batch of the CSV export: up to 500 partners by code after key `after`.
pub async fn export_batch(db: &impl GenericClient, after: Option<String>) -> ApiResult<Batch> {
    let rows = db
        .query(
            &format!(
                "{SELECT} WHERE ($1::text IS NULL OR lower(p.code) > $1) \
                 ORDER BY lower(p.code) LIMIT $2"
            ),
            &[&after, &EXPORT_BATCH],
        )
        .await?;
    let next = (rows.len() as i64 == EXPORT_BATCH)
        .then(|| {
            rows.last()
                .map(|row| row.get::<_, String>(1).to_lowercase())
        })
        .flatten();
    let rows = rows
        .iter()
        .map(|row| {
            let p = partner(row);
            vec![
                p.code,
                p.name,
                p.is_customer.to_string(),
                p.is_supplier.to_string(),
                p.email,
                p.phone,
                p.tax_id,
                p.payment_terms_days.to_string(),
                p.notes,
                p.active.to_string(),
            ]
        })
        .collect();
    Ok(Batch { rows, next })
}

/// Imports partners from CSV `body` (columns [`CSV_HEADER`]) in the caller's
/// transaction: each row an upsert by code (any case), addresses left as they are. The
/// caller commits when the report says so. One audit entry, `partner.imported`.
pub async fn import(
    db: &impl GenericClient,
    actor: &Actor,
    body: &[u8],
    mode: ImportMode,
) -> ApiResult<ImportReport> {
    let mut table = Table::open(body, &CSV_HEADER)?;
    let statement = db.prepare(UPSERT).await?;
    let mut report = ImportReport::new(mode);
    while let Some(row) = table.next_row() {
        report.rows += 1;
        match row.and_then(|row| parse_row(&row)) {
            Ok(input) => report.count(upsert(db, &statement, &input).await?),
            Err(error) => report.reject(vec![error]),
        }
    }
    if report.should_commit() {
        report.applied = true;
        let entry = audit::Entry {
            action: "partner.imported",
            target_kind: "partner",
            target_id: String::new(),
            before: None,
            after: Some(serde_json::json!({
                "mode": mode, "rows": report.rows, "created": report.created,
                "updated": report.updated, "rejected": report.rejected,
            })),
        };
        audit::record(db, actor, entry).await?;
    }
    Ok(report)
}

fn parse_row(row: &Row) -> Result<NewPartner, RowError> {
    let cell = |column: &str| -> &str {
        CSV_HEADER
            .iter()
            .position(|name| *name == column)
            .and_then(|index| row.cells.get(index))
            .map_or("", String::as_str)
    };
    let boolean = |column: &str| csv::parse_bool(cell(column)).map_err(|m| row.error(column, m));
    let terms = cell("payment_terms_days").trim();
    let payment_terms_days = if terms.is_empty() {
        30
    } else {
        terms
            .parse()
            .map_err(|_| row.error("payment_terms_days", "must be a whole number of days"))?
    };
    let mut input = NewPartner {
        code: cell("code").trim().to_owned(),
        name: cell("name").to_owned(),
        is_customer: boolean("is_customer")?,
        is_supplier: boolean("is_supplier")?,
        email: cell("email").trim().to_owned(),
        phone: cell("phone").to_owned(),
        tax_id: cell("tax_id").to_owned(),
        payment_terms_days,
        notes: cell("notes").to_owned(),
        active: boolean("active")?,
        addresses: Vec::new(),
    };
    match check(&mut input).into_iter().next() {
        None => Ok(input),
        Some(error) => Err(row.error(&error.field, error.message)),
    }
}

const UPSERT: &str = "INSERT INTO partners (id, code, name, is_customer, is_supplier, email, \
      phone, tax_id, payment_terms_days, notes, active) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
    ON CONFLICT ((lower(code))) DO UPDATE SET code = EXCLUDED.code, name = EXCLUDED.name, \
      is_customer = EXCLUDED.is_customer, is_supplier = EXCLUDED.is_supplier, \
      email = EXCLUDED.email, phone = EXCLUDED.phone, tax_id = EXCLUDED.tax_id, \
      payment_terms_days = EXCLUDED.payment_terms_days, notes = EXCLUDED.notes, \
      active = EXCLUDED.active, updated_at = now() \
    WHERE (partners.code, partners.name, partners.is_customer, partners.is_supplier, \
           partners.email, partners.phone, partners.tax_id, partners.payment_terms_days, \
           partners.notes, partners.active) \
      IS DISTINCT FROM (EXCLUDED.code, EXCLUDED.name, EXCLUDED.is_customer, \
           EXCLUDED.is_supplier, EXCLUDED.email, EXCLUDED.phone, EXCLUDED.tax_id, \
           EXCLUDED.payment_terms_days, EXCLUDED.notes, EXCLUDED.active) \
    RETURNING (xmax = 0)";

async fn upsert(
    db: &impl GenericClient,
    statement: &tokio_postgres::Statement,
    input: &NewPartner,
) -> ApiResult<Outcome> {
    let row = db
        .query_opt(
            statement,
            &[
                &Uuid::now_v7(),
                &input.code,
                &input.name,
                &input.is_customer,
                &input.is_supplier,
                &input.email,
                &input.phone,
                &input.tax_id,
                &input.payment_terms_days,
                &input.notes,
                &input.active,
            ],
        )
        .await?;
    Ok(match row.map(|row| row.get::<_, bool>(0)) {
        Some(true) => Outcome::Created,
        Some(false) => Outcome::Updated,
        None => Outcome::Unchanged,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> NewPartner {
        NewPartner {
            code: "ACME".into(),
            name: "Acme".into(),
            is_customer: true,
            is_supplier: false,
            email: "Sales@Acme.example".into(),
            phone: String::new(),
            tax_id: String::new(),
            payment_terms_days: 30,
            notes: String::new(),
            active: true,
            addresses: Vec::new(),
        }
    }

    #[test]
    fn a_partner_with_neither_role_is_refused() {
        let mut partner = acme();
        partner.is_customer = false;
        assert_eq!(check(&mut partner)[0].field, "is_customer");
    }

    #[test]
    fn an_email_is_validated_and_normalized() {
        let mut partner = acme();
        assert!(check(&mut partner).is_empty());
        assert_eq!(partner.email, "sales@acme.example");
        partner.email = "not an email".into();
        assert_eq!(check(&mut partner)[0].field, "email");
    }

    #[test]
    fn two_default_billing_addresses_are_refused() {
        let address = NewAddress {
            kind: AddressKind::Billing,
            line1: "1 Road".into(),
            line2: String::new(),
            city: String::new(),
            postal_code: String::new(),
            country: "FR".into(),
            is_default: true,
        };
        let mut partner = acme();
        partner.addresses = vec![address.clone(), address];
        assert_eq!(check(&mut partner)[0].field, "addresses");
    }
}
