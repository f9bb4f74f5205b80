//! Outgoing email with lettre: SMTP when `mail.smtp_url` is set, otherwise each message is
//! written as an `.eml` file under `{data_dir}/mail/` (development and tests read them
//! there). Sending never blocks a request: callers spawn it and log a failure.

use crate::config::Settings;
use anyhow::Context as _;
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Arc<Transport>,
}

enum Transport {
    /// The folder is made on first use, so a process that sends nothing leaves no trace.
    Files(PathBuf, AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Where messages go when no SMTP server is configured.
pub fn mail_dir(settings: &Settings) -> PathBuf {
    settings.data_dir.join("mail")
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .mail
            .from
            .parse()
            .context("`mail.from` is not a mailbox (`Name <address>`)")?;
        let transport = match &settings.mail.smtp_url {
            Some(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .context("`mail.smtp_url` is not a valid SMTP URL")?
                    .build(),
            ),
            None => {
                let dir = mail_dir(settings);
                Transport::Files(dir.clone(), AsyncFileTransport::new(dir))
            }
        };
        Ok(Self {
            from,
            transport: Arc::new(transport),
        })
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> anyhow::Result<()> {
        let message = Message::builder()
            .from(self.from.clone())
            .to(to
                .parse()
                .with_context(|| format!("`{to}` is not a mailbox"))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .context("building the message")?;
        match self.transport.as_ref() {
            Transport::Files(dir, files) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .with_context(|| format!("creating the mail folder {}", dir.display()))?;
                drop(files.send(message).await?);
            }
            Transport::Smtp(smtp) => drop(smtp.send(message).await?),
        }
        Ok(())
    }

    /// Sends in the background; a failure is logged (the request that caused it has
    /// already succeeded and must not fail because mail is slow or down).
    pub fn send_later(&self, to: String, subject: String, body: String) {
        let mailer = self.clone();
        tokio::spawn(async move {
            if let Err(error) = mailer.send(&to, &subject, body).await {
                tracing::error!(error = format!("{error:#}"), %to, "sending mail failed");
            }
        });
    }
}
