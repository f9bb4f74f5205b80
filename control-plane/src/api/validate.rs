//! Field checks shared by the admin API's handlers; each returns the message for a
//! [`common::api_error::Validator`].

/// A plausible email address (see [`common::ids::normalize_email`]).
pub fn email(email: &str) -> Result<(), String> {
    common::ids::normalize_email(email)
        .map(drop)
        .ok_or_else(|| "is not an email address".to_owned())
}

/// Text of 1 to `max` characters after trimming.
pub fn text(value: &str, max: usize) -> Result<(), String> {
    let length = value.trim().chars().count();
    if (1..=max).contains(&length) {
        Ok(())
    } else {
        Err(format!("must be 1 to {max} characters"))
    }
}

/// The written reason some actions demand.
pub fn reason(value: &str) -> Result<(), String> {
    let length = value.trim().chars().count();
    if (3..=500).contains(&length) {
        Ok(())
    } else {
        Err("a reason of 3 to 500 characters is required".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(email("ann@acme.example").is_ok());
        for bad in ["ann", "ann@", "@acme.example", "ann@localhost", "a nn@x.io"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_reason_must_say_something() {
        assert!(reason("  ").is_err());
        assert!(reason("unpaid invoices").is_ok());
        assert!(reason(&"x".repeat(501)).is_err());
    }
}
