//! Errors of a submitted form, taken from the API's own answer: a `validation_failed`
//! problem's field errors go next to their fields, any other client problem becomes the
//! form's message. The page shows exactly what the API would have said.

use crate::api_error::ApiError;
use crate::problem::Problem;
use std::collections::BTreeMap;

/// What went wrong with a submitted form; empty for a fresh form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormErrors {
    fields: BTreeMap<String, String>,
    /// A message for the whole form (shown above it).
    pub summary: Option<String>,
}

impl FormErrors {
    /// The errors of a problem: per field for `validation_failed`, else the detail. A
    /// problem whose `code` names a field (`fields_by_code`, e.g. `slug_taken` -> `slug`)
    /// is shown next to that field.
    pub fn from_problem(problem: &Problem, fields_by_code: &[(&str, &str)]) -> Self {
        let mut errors = Self::default();
        for error in &problem.errors {
            errors.add(&error.field, &error.message);
        }
        match fields_by_code
            .iter()
            .find(|(code, _)| *code == problem.code)
        {
            Some((_, field)) => errors.add(field, &problem.detail),
            None if problem.errors.is_empty() => errors.summary = Some(problem.detail.clone()),
            None => {
                errors.summary = Some("Some fields need attention: see the messages below.".into())
            }
        }
        errors
    }

    /// The form errors of an API error, or the error itself when it is not about the form
    /// (not found, forbidden, internal): the caller answers those with an error page. A
    /// code in `fields_by_code` is always about the form (`user_not_found` is a 404 that
    /// belongs next to the email typed).
    pub fn from_api_error(
        error: ApiError,
        fields_by_code: &[(&str, &str)],
    ) -> Result<Self, ApiError> {
        match &error {
            ApiError::Client(problem)
                if matches!(problem.status, 400 | 409 | 422)
                    || fields_by_code.iter().any(|(code, _)| *code == problem.code) =>
            {
                Ok(Self::from_problem(problem, fields_by_code))
            }
            _ => Err(error),
        }
    }

    /// Errors with only a message for the whole form.
    pub fn message(text: impl Into<String>) -> Self {
        Self {
            fields: BTreeMap::new(),
            summary: Some(text.into()),
        }
    }

    /// Adds an error to `field` (a second one for the same field is appended).
    pub fn add(&mut self, field: &str, message: &str) {
        self.fields
            .entry(field.to_owned())
            .and_modify(|existing| {
                existing.push_str("; ");
                existing.push_str(message);
            })
            .or_insert_with(|| message.to_owned());
    }

    /// The error of `field`, for the template next to it.
    pub fn field(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// The error of `field`, or "" (for templates that test `is_empty`).
    pub fn of(&self, field: &str) -> &str {
        self.field(field).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.summary.is_none()
    }

    /// Fields with errors that the form does not show (so none is silently lost).
    pub fn fields_except(&self, shown: &[&str]) -> Vec<(String, String)> {
        self.fields
            .iter()
            .filter(|(field, _)| !shown.contains(&field.as_str()))
            .map(|(field, message)| (field.clone(), message.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::FieldError;
    use actix_web::http::StatusCode;

    #[test]
    fn field_errors_go_next_to_their_fields() {
        let problem = Problem::validation(vec![FieldError {
            field: "slug".into(),
            message: "must be 3 to 40 characters".into(),
        }]);
        let errors = FormErrors::from_problem(&problem, &[]);
        assert_eq!(errors.field("slug"), Some("must be 3 to 40 characters"));
        assert!(errors.summary.is_some());
    }

    #[test]
    fn a_code_can_name_its_field() {
        let problem = Problem::new(StatusCode::CONFLICT, "slug_taken", "`acme` is taken");
        let errors = FormErrors::from_problem(&problem, &[("slug_taken", "slug")]);
        assert_eq!(errors.field("slug"), Some("`acme` is taken"));
        assert_eq!(errors.summary, None);
    }

    #[test]
    fn other_problems_become_the_form_message() {
        let problem = Problem::new(StatusCode::CONFLICT, "invalid_transition", "not active");
        let errors = FormErrors::from_problem(&problem, &[]);
        assert_eq!(errors.summary.as_deref(), Some("not active"));
    }

    #[test]
    fn a_not_found_is_not_a_form_error() {
        let error = ApiError::not_found("tenant_not_found", "no such tenant");
        assert!(FormErrors::from_api_error(error, &[]).is_err());
    }
}
