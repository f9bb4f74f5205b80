//! The one lock-out policy for every sign-in (super-admins on the control plane, tenant
//! users on the runtime): the fifth failure in a row locks the account for 30 s, each
//! further failure doubles the lock, up to 15 minutes; a success clears it.
//!
//! The count and the lock are set in one SQL statement ([`count_failure_sql`]) so parallel
//! guesses cannot outrun the lock; both user tables have the same two columns,
//! `failed_login_count` and `locked_until`.

use crate::api_error::ApiError;
use actix_web::http::StatusCode;

/// Consecutive failures allowed before the account locks.
pub const MAX_FAILURES: i32 = 5;
/// The first lock; each further failure doubles it.
pub const FIRST_LOCK_SECS: u32 = 30;
/// The longest lock.
pub const LONGEST_LOCK_SECS: u32 = 15 * 60;

/// The `SET` list that counts one failure and starts or lengthens the lock, for an
/// `UPDATE` of a table with `failed_login_count` and `locked_until`.
pub fn count_failure_sql() -> String {
    format!(
        "failed_login_count = failed_login_count + 1, \
         locked_until = CASE WHEN failed_login_count + 1 >= {MAX_FAILURES} \
           THEN now() + make_interval(secs => least({FIRST_LOCK_SECS} \
             * power(2, least(failed_login_count + 1 - {MAX_FAILURES}, 10)), {LONGEST_LOCK_SECS})) \
           ELSE NULL END"
    )
}

/// The `SET` list of a successful sign-in.
pub const CLEAR_SQL: &str = "failed_login_count = 0, locked_until = NULL, last_login_at = now()";

/// How long the account stays locked after `failures` consecutive failures (what
/// [`count_failure_sql`] computes, for tests and documentation).
pub fn lock_secs(failures: i32) -> Option<u32> {
    let beyond = u32::try_from(failures - MAX_FAILURES).ok()?;
    Some(
        FIRST_LOCK_SECS
            .saturating_mul(1 << beyond.min(10))
            .min(LONGEST_LOCK_SECS),
    )
}

/// 429 `account_locked` with `Retry-After` (rounded up to whole seconds).
pub fn locked(remaining_secs: f64) -> ApiError {
    ApiError::retry_later(
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
        "too many failed sign-ins; try again later",
        remaining_secs.ceil() as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_failures_do_not_lock() {
        assert_eq!(lock_secs(4), None);
    }

    #[test]
    fn the_fifth_failure_locks_for_thirty_seconds_and_each_next_doubles_it() {
        assert_eq!(lock_secs(5), Some(30));
        assert_eq!(lock_secs(6), Some(60));
        assert_eq!(lock_secs(7), Some(120));
    }

    #[test]
    fn the_lock_never_exceeds_fifteen_minutes() {
        assert_eq!(lock_secs(10), Some(900));
        assert_eq!(lock_secs(1000), Some(900));
    }

    #[test]
    fn the_sql_uses_the_same_numbers() {
        let sql = count_failure_sql();
        for number in ["+ 1 >= 5", "least(30", ", 900))"] {
            assert!(sql.contains(number), "{number} in {sql}");
        }
    }
}
