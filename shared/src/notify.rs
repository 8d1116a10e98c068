//! Failure e-mails: a narrow `Mailer` trait, with SES (sesv2) behind it in deployments and the
//! local stack, and a recording mailer for unit tests.

use std::future::Future;
#[cfg(any(test, feature = "testing"))]
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, thiserror::Error)]
#[error("sending e-mail failed: {0}")]
pub struct MailError(pub String);

pub trait Mailer: Send + Sync {
    fn send(&self, email: &Email) -> impl Future<Output = Result<(), MailError>> + Send;
}

/// Plain-text e-mail through SES v2 `SendEmail`.
#[derive(Clone, Debug)]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

impl SesMailer {
    pub fn new(client: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }
}

impl Mailer for SesMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |text: &str| {
            Content::builder()
                .data(text)
                .charset("UTF-8")
                .build()
                .expect("data is set")
        };
        let message = Message::builder()
            .subject(content(&email.subject))
            .body(Body::builder().text(content(&email.text)).build())
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| MailError(aws_sdk_sesv2::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

/// Keeps what it was asked to send; for unit tests.
#[cfg(any(test, feature = "testing"))]
#[derive(Debug, Default)]
pub struct RecordingMailer(pub Mutex<Vec<Email>>);

#[cfg(any(test, feature = "testing"))]
impl RecordingMailer {
    pub fn sent(&self) -> Vec<Email> {
        self.0.lock().unwrap().clone()
    }
}

#[cfg(any(test, feature = "testing"))]
impl Mailer for RecordingMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.0.lock().unwrap().push(email.clone());
        Ok(())
    }
}

/// For functions that must never send e-mail (and get no SES permission): refuses.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoMail;

impl Mailer for NoMail {
    async fn send(&self, _email: &Email) -> Result<(), MailError> {
        Err(MailError("this function does not send e-mail".into()))
    }
}
