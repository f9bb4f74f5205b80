//! Billing emails to a company's admin: the trial ends in 3 days, a payment failed (with a
//! link to fix it), access suspended, access restored. Each is first recorded in
//! `billing_emails` (tenant, kind, cause), in the transaction of the change that causes it,
//! so a duplicate event or a retried change records nothing new; the worker then sends
//! what is recorded and not yet sent, and marks it sent.

use super::Enabled;
use common::entities::tenants as tenant_rows;
use common::mail::Mailer;
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, Statement, TransactionTrait,
};
use uuid::Uuid;

/// Which message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    TrialEnding,
    PaymentFailed,
    AccessSuspended,
    AccessRestored,
}

impl EmailKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::TrialEnding => "trial_ending",
            Self::PaymentFailed => "payment_failed",
            Self::AccessSuspended => "access_suspended",
            Self::AccessRestored => "access_restored",
        }
    }

    fn parse(kind: &str) -> Option<Self> {
        [
            Self::TrialEnding,
            Self::PaymentFailed,
            Self::AccessSuspended,
            Self::AccessRestored,
        ]
        .into_iter()
        .find(|candidate| candidate.as_str() == kind)
    }
}

/// Records that `kind` is owed to the tenant's admin because of `cause` (once).
pub async fn queue(
    db: &impl ConnectionTrait,
    tenant: &tenant_rows::Model,
    kind: EmailKind,
    cause: &str,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO billing_emails (tenant_id, kind, cause, recipient) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
        [
            tenant.id.into(),
            kind.as_str().into(),
            cause.into(),
            tenant.admin_email.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// One recorded, unsent email.
struct Owed {
    tenant_id: Uuid,
    kind: EmailKind,
    cause: String,
    recipient: String,
    slug: String,
    company: String,
}

/// Sends every recorded email not sent yet; answers how many went out. Each row stays
/// locked while it is sent, so two workers never send the same one.
pub async fn send_owed(
    db: &(impl ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>),
    billing: &Enabled,
    mailer: &Mailer,
) -> Result<usize, DbErr> {
    let mut sent = 0;
    loop {
        let txn = db.begin().await?;
        let Some(owed) = next_owed(&txn).await? else {
            txn.commit().await?;
            return Ok(sent);
        };
        let (subject, body) = message(billing, &owed);
        if let Err(error) = mailer.send(&owed.recipient, &subject, body).await {
            tracing::warn!(tenant = %owed.tenant_id, error = format!("{error:#}"), "billing email not sent; will retry");
            txn.rollback().await?;
            return Ok(sent);
        }
        mark_sent(&txn, &owed).await?;
        txn.commit().await?;
        sent += 1;
    }
}

async fn next_owed(db: &impl ConnectionTrait) -> Result<Option<Owed>, DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT e.tenant_id, e.kind, e.cause, e.recipient, t.slug, t.name \
             FROM billing_emails e JOIN tenants t ON t.id = e.tenant_id \
             WHERE e.sent_at IS NULL ORDER BY e.created_at LIMIT 1 \
             FOR UPDATE OF e SKIP LOCKED",
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let kind: String = row.try_get("", "kind")?;
    Ok(EmailKind::parse(&kind).map(|kind| Owed {
        tenant_id: row.try_get("", "tenant_id").unwrap_or_default(),
        kind,
        cause: row.try_get("", "cause").unwrap_or_default(),
        recipient: row.try_get("", "recipient").unwrap_or_default(),
        slug: row.try_get("", "slug").unwrap_or_default(),
        company: row.try_get("", "name").unwrap_or_default(),
    }))
}

async fn mark_sent(db: &impl ConnectionTrait, owed: &Owed) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "UPDATE billing_emails SET sent_at = now() \
         WHERE tenant_id = $1 AND kind = $2 AND cause = $3",
        [
            owed.tenant_id.into(),
            owed.kind.as_str().into(),
            owed.cause.clone().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Subject and plain-text body.
fn message(billing: &Enabled, owed: &Owed) -> (String, String) {
    let company = &owed.company;
    let page = billing.billing_page(&owed.slug);
    match owed.kind {
        EmailKind::TrialEnding => (
            format!("{company}: your trial ends in 3 days"),
            format!(
                "Hello,\n\nThe trial of {company} ends in 3 days. To keep using the ERP \
                 without interruption, choose a plan and add a payment method:\n\n{page}\n"
            ),
        ),
        EmailKind::PaymentFailed => (
            format!("{company}: a payment failed"),
            format!(
                "Hello,\n\nWe could not collect the latest payment of {company}. Your \
                 company keeps working for now; please update the payment method in the \
                 billing portal before the grace period ends:\n\n{page}\n"
            ),
        ),
        EmailKind::AccessSuspended => (
            format!("{company}: access suspended"),
            format!(
                "Hello,\n\nAccess to {company} is suspended because its subscription is not \
                 paid. Administrators can still sign in and pay here:\n\n{page}\n"
            ),
        ),
        EmailKind::AccessRestored => (
            format!("{company}: access restored"),
            format!(
                "Hello,\n\nThank you: {company} is paid up and everyone can use it \
                 again.\n\n{}\n",
                billing.tenant_origin.tenant_url(&owed.slug)
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_kinds_round_trip_through_their_names() {
        for kind in [
            EmailKind::TrialEnding,
            EmailKind::PaymentFailed,
            EmailKind::AccessSuspended,
            EmailKind::AccessRestored,
        ] {
            assert_eq!(EmailKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(EmailKind::parse("spam"), None);
    }
}
