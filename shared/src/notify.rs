//! Failure e-mails: a narrow `Mailer` trait, with SES (sesv2) behind it in deployments and the
//! local stack, and a recording mailer for unit tests.

use std::future::Future;
#[cfg(any(test, feature = "testing"))]
use std::sync::Mutex;

/// Failure e-mails one account gets per clock hour, whatever its webhooks: each webhook gets at
/// most one of a kind per notice window, but a key holder can make many webhooks and aim them
/// at any address.
pub const DEFAULT_EMAILS_PER_HOUR: u32 = 20;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// The longest subject an e-mail gets, in characters.
pub const SUBJECT_MAX_CHARS: usize = 150;
/// The largest text an e-mail gets, in bytes: a few lines of facts, never a receiver's answer.
pub const TEXT_MAX_BYTES: usize = 4 * 1024;

impl Email {
    /// An e-mail within the bounds above: the subject on one clean line, the text cut.
    pub fn new(to: impl Into<String>, subject: &str, text: &str) -> Self {
        let mut text = text.to_string();
        if text.len() > TEXT_MAX_BYTES {
            const MARK: &str = "\n[cut]";
            let mut end = TEXT_MAX_BYTES - MARK.len();
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push_str(MARK);
        }
        Self {
            to: to.into(),
            subject: excerpt(subject, SUBJECT_MAX_CHARS),
            text,
        }
    }
}

/// Text someone else chose (a webhook's name, a receiver's error), made safe to quote in an
/// e-mail: control and invisible formatting characters (line breaks, bidirectional overrides,
/// zero-width ones) become spaces, runs of spaces one, and it is cut to `max_chars`.
pub fn excerpt(text: &str, max_chars: usize) -> String {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
    };
    let mut out = String::new();
    let mut chars = 0;
    for word in text
        .split(|c: char| c.is_whitespace() || invisible(c))
        .filter(|w| !w.is_empty())
    {
        let sep = usize::from(!out.is_empty());
        let len = word.chars().count();
        if chars + sep + len > max_chars {
            let room = max_chars.saturating_sub(chars + sep + 1);
            if room > 0 {
                if sep == 1 {
                    out.push(' ');
                }
                out.extend(word.chars().take(room));
            }
            out.push('…');
            return out;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(word);
        chars += sep + len;
    }
    out
}

/// How e-mails quote a webhook's name: its user chose it, so it is cleaned and kept short.
pub fn quoted_name(name: &str) -> String {
    format!("\"{}\"", excerpt(name, 60))
}

/// How e-mails quote a receiver's error or answer: at most a line.
pub fn quoted_error(error: &str) -> String {
    excerpt(error, 200)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_one_clean_short_line() {
        assert_eq!(excerpt("  plain   text ", 50), "plain text");
        assert_eq!(
            excerpt(
                "Invoice\r\nBcc: victim@example.com\u{202E}gnp.exe\u{200B}x",
                80
            ),
            "Invoice Bcc: victim@example.com gnp.exe x"
        );
        assert_eq!(excerpt("abcdefghij", 5), "abcd…");
        assert_eq!(excerpt("ab cdefghij", 6), "ab cd…");
        assert_eq!(excerpt("ab cdefghij", 3), "ab…");
        assert_eq!(excerpt("é".repeat(300).as_str(), 10).chars().count(), 10);
        assert_eq!(excerpt("", 10), "");
        assert_eq!(quoted_name("Orders\nURGENT"), "\"Orders URGENT\"");
    }

    #[test]
    fn e_mails_stay_within_their_bounds() {
        let long = "ä".repeat(10_000);
        let email = Email::new("ops@example.com", &format!("Subject\n{long}"), &long);
        assert!(email.text.len() <= TEXT_MAX_BYTES, "{}", email.text.len());
        assert!(email.text.ends_with("[cut]"));
        assert_eq!(email.subject.chars().count(), SUBJECT_MAX_CHARS);
        assert!(!email.subject.contains('\n'));
        let short = Email::new("ops@example.com", "Hi", "a\nb");
        assert_eq!(
            (short.subject.as_str(), short.text.as_str()),
            ("Hi", "a\nb")
        );
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
