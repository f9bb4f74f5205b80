//! Status badges: one tone per status word, so "failed" is red on every page of both
//! web interfaces.

/// A status shown as a coloured label; `data-status` carries the raw word for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Badge {
    pub status: String,
    pub tone: &'static str,
}

impl Badge {
    /// The badge of a status word (any resource's: tenant, job, run, billing, server).
    pub fn status(status: &str) -> Self {
        Self {
            status: status.to_owned(),
            tone: tone(status),
        }
    }

    /// The words people read: `past_due` as "past due".
    pub fn label(&self) -> String {
        self.status.replace('_', " ")
    }
}

fn tone(status: &str) -> &'static str {
    match status {
        "active" | "succeeded" | "completed" | "done" | "ok" | "paid" | "applied" | "enabled" => {
            "ok"
        }
        "provisioning" | "running" | "pending" | "queued" | "trialing" | "in_progress"
        | "deleting" | "relocating" | "restoring" => "info",
        "suspended" | "past_due" | "draining" | "halted" | "paused" | "canceling"
        | "incomplete" | "retrying" => "warn",
        "failed" | "unpaid" | "dead" | "error" | "canceled_with_error" | "failing" | "gone" => {
            "danger"
        }
        _ => "muted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_red_and_unknown_words_are_muted() {
        assert_eq!(Badge::status("failed").tone, "danger");
        assert_eq!(Badge::status("active").tone, "ok");
        assert_eq!(Badge::status("something new").tone, "muted");
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(Badge::status("past_due").label(), "past due");
    }
}
