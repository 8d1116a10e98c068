//! Inbound resolution: call a webhook's URL for the chat, at most three times within a deadline,
//! and answer with its data or the configured fallback. Never hangs, never fails: every path ends
//! in an answer by the deadline, and side effects (log, e-mail) cannot change it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::Clock;
use crate::formats::{self, discover};
use crate::http::{HttpClient, HttpError, HttpMethod, HttpRequest, HttpResponse};
use crate::ids;
use crate::model::{Attempt, FlowConfig, InboundConfig, Method, Security, Status, Webhook};
use crate::notify::{excerpt, quoted_error, quoted_name, Email, Mailer};
use crate::render::render_url;
use crate::signing::{credential_headers, request_signature_header, signature_headers};
use crate::store::{ActivityEntry, ActivityLog, Allowance, Allowances, NoticeGate};

pub const MAX_TRIES: usize = 3;

/// Resolves one account may have in flight: a fifth of the resolver's reserved concurrency
/// (50), so receivers that hang hold at most that share (twice it across a window's turn);
/// receivers that answer in 50 ms still allow over 100 resolves a second.
pub const DEFAULT_RESOLVE_CONCURRENCY: u32 = 10;

#[derive(Clone, Debug)]
pub struct ResolverSettings {
    /// Bounds the whole resolution, backoffs included (API Gateway allows 29 s at most).
    pub deadline: Duration,
    /// The waits after the first and second failed tries, before jitter.
    pub backoffs: [Duration; 2],
    /// Largest valid answer; a larger one is an invalid try.
    pub max_body: usize,
    /// At most one failure e-mail per webhook per window.
    pub notice_window: time::Duration,
    /// How long log entries are kept.
    pub log_retention: time::Duration,
    /// Time allowed for the log write and the e-mail after the answer is known.
    pub side_effect_budget: Duration,
    /// Failure e-mails per account per clock hour, both functions together.
    pub emails_per_hour: u32,
    /// Resolves one account may have in flight (`POST .../resolve`; tests are not counted),
    /// kept by `Allowance::ResolvesInFlight`.
    pub resolve_concurrency: u32,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(8),
            backoffs: [Duration::from_millis(100), Duration::from_millis(300)],
            max_body: 256 * 1024,
            notice_window: time::Duration::minutes(15),
            log_retention: time::Duration::days(30),
            side_effect_budget: Duration::from_millis(1500),
            emails_per_hour: crate::notify::DEFAULT_EMAILS_PER_HOUR,
            resolve_concurrency: DEFAULT_RESOLVE_CONCURRENCY,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Webhook,
    Fallback,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Webhook => "webhook",
            Source::Fallback => "fallback",
        }
    }
}

/// The chat's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolution {
    pub source: Source,
    pub data: Value,
    /// Each configured variable path's value in `data` (null where absent).
    pub variables: Map<String, Value>,
    pub attempts: Vec<Attempt>,
    pub missing_placeholders: Vec<String>,
}

/// The answer of `POST /webhook/{id}/test`: one call, and what the console can offer.
#[derive(Clone, Debug, PartialEq)]
pub struct TestOutcome {
    /// The answer was valid (2xx, parses in the webhook's format, within the size cap).
    pub ok: bool,
    pub attempt: Attempt,
    /// The parsed answer, when it parsed.
    pub data: Option<Value>,
    /// Every variable path found in `data`.
    pub discovered_variables: Vec<String>,
    pub missing_placeholders: Vec<String>,
}

/// What one try amounted to.
enum Verdict {
    Valid(Value),
    /// Worth another try, after at least `retry_after` when the receiver asked for it.
    Retry(Option<Duration>),
    /// Another try cannot help (a 4xx other than 408/425/429, a redirect).
    Stop,
}

/// The request for a webhook and the conversation's variables, not yet signed.
pub fn prepare(
    webhook: &Webhook,
    config: &InboundConfig,
    variables: &Value,
) -> (HttpRequest, Vec<String>) {
    let (url, missing) = render_url(&webhook.url, variables);
    let mime = webhook.format.mime();
    let mut headers = vec![("accept".to_string(), mime.to_string())];
    let (method, body) = match config.method {
        Method::Get => (HttpMethod::Get, Vec::new()),
        Method::Post => {
            headers.push(("content-type".to_string(), mime.to_string()));
            (
                HttpMethod::Post,
                formats::encode(webhook.format, "variables", variables),
            )
        }
    };
    headers.extend(credential_headers(&webhook.security));
    let timeout = Duration::from_millis(config.timeout_ms.into());
    (
        HttpRequest {
            method,
            url,
            headers,
            body,
            timeout,
        },
        missing,
    )
}

/// `base` signed for this try (HMAC webhooks; a new timestamp on each try, the same id).
fn signed(
    base: &HttpRequest,
    security: &Security,
    msg_id: &str,
    now: OffsetDateTime,
) -> HttpRequest {
    let mut request = base.clone();
    for (name, value) in signature_headers(security, msg_id, now, &base.body) {
        request.headers.push((name.to_string(), value));
    }
    let method = base.method.as_str();
    if let Some((name, value)) =
        request_signature_header(security, method, &base.url, msg_id, now, &base.body)
    {
        request.headers.push((name.to_string(), value));
    }
    request
}

fn judge(
    result: Result<HttpResponse, HttpError>,
    format: crate::model::Format,
    max_body: usize,
    now: OffsetDateTime,
) -> (Option<u16>, Option<String>, Verdict) {
    let response = match result {
        Ok(r) => r,
        // An address the egress policy forbids stays forbidden for the seconds a chat waits.
        Err(e @ HttpError::Refused(_)) => return (None, Some(e.to_string()), Verdict::Stop),
        Err(e) => return (None, Some(e.to_string()), Verdict::Retry(None)),
    };
    let status = Some(response.status);
    let code = response.status;
    if (200..300).contains(&code) {
        if response.truncated {
            return (
                status,
                Some(format!("response larger than {max_body} bytes")),
                Verdict::Retry(None),
            );
        }
        return match formats::decode(format, &response.body) {
            Ok(value) => (status, None, Verdict::Valid(value)),
            Err(e) => (status, Some(e.to_string()), Verdict::Retry(None)),
        };
    }
    let error = Some(format!("HTTP {code}"));
    match code {
        300..=399 => (
            status,
            Some(format!("HTTP {code}: redirects are not followed")),
            Verdict::Stop,
        ),
        429 | 503 => (status, error, Verdict::Retry(response.retry_after(now))),
        408 | 425 => (status, error, Verdict::Retry(None)),
        400..=499 => (status, error, Verdict::Stop),
        _ => (status, error, Verdict::Retry(None)),
    }
}

/// `base` ± 25%, so many chats retrying one failing URL do not retry in step.
fn jitter(base: Duration) -> Duration {
    let r = u64::from_be_bytes(ids::random_bytes::<8>()) as f64 / u64::MAX as f64;
    base.mul_f64(0.75 + 0.5 * r)
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

pub struct Resolver<H, M, S> {
    pub http: H,
    pub mailer: M,
    pub store: S,
    pub clock: Arc<dyn Clock>,
    pub settings: ResolverSettings,
}

impl<H: HttpClient, M: Mailer, S: NoticeGate + ActivityLog + Allowances> Resolver<H, M, S> {
    /// Up to three tries within the deadline; `None` and the attempts when none was valid.
    async fn call(
        &self,
        webhook: &Webhook,
        base: &HttpRequest,
        msg_id: &str,
        tries: usize,
    ) -> (Option<Value>, Vec<Attempt>) {
        let deadline = Instant::now() + self.settings.deadline;
        let mut attempts = Vec::new();
        for i in 0..tries {
            let started = Instant::now();
            let Some(remaining) = deadline
                .checked_duration_since(started)
                .filter(|d| !d.is_zero())
            else {
                break;
            };
            let at = self.clock.now();
            let mut request = signed(base, &webhook.security, msg_id, at);
            request.timeout = request.timeout.min(remaining);
            // The deadline cuts a try short even if the client's own timeout has not fired.
            let result = match tokio::time::timeout(
                remaining,
                self.http.send(request, self.settings.max_body),
            )
            .await
            {
                Ok(result) => result,
                Err(_) => Err(HttpError::Timeout),
            };
            let (status, error, verdict) =
                judge(result, webhook.format, self.settings.max_body, at);
            attempts.push(Attempt {
                at,
                status,
                error,
                duration_ms: millis(started.elapsed()),
                response_body: None,
                manual: false,
            });
            let retry_after = match verdict {
                Verdict::Valid(value) => return (Some(value), attempts),
                Verdict::Stop => break,
                Verdict::Retry(retry_after) => retry_after,
            };
            if i + 1 == tries {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let wait =
                jitter(self.settings.backoffs[i.min(1)]).max(retry_after.unwrap_or_default());
            // Waiting past the deadline, or longer than the receiver says it needs, helps nobody.
            if wait >= left {
                break;
            }
            tokio::time::sleep(wait).await;
        }
        (None, attempts)
    }

    /// Resolves `webhook` for a conversation. Always answers.
    pub async fn resolve(&self, webhook: &Webhook, variables: &Value) -> Resolution {
        let started = Instant::now();
        let FlowConfig::Inbound(config) = &webhook.config else {
            unreachable!("callers resolve inbound webhooks only");
        };
        let msg_id = ids::new_inbound_call_id(self.clock.now());
        let (base, missing) = prepare(webhook, config, variables);
        let (data, attempts) = if webhook.status == Status::Inactive {
            (None, Vec::new())
        } else {
            self.call(webhook, &base, &msg_id, MAX_TRIES).await
        };
        let source = if data.is_some() {
            Source::Webhook
        } else {
            Source::Fallback
        };
        let data = data.unwrap_or_else(|| config.fallback_response.clone());
        let resolution = Resolution {
            source,
            variables: formats::variables(&data, &config.variables),
            data,
            attempts,
            missing_placeholders: missing,
        };
        let entry = ActivityEntry {
            id: msg_id,
            kind: "resolve".into(),
            at: self.clock.now(),
            source: source.as_str().into(),
            attempts: resolution.attempts.clone(),
            duration_ms: millis(started.elapsed()),
            missing_placeholders: resolution.missing_placeholders.clone(),
        };
        tracing::info!(
            account_id = %webhook.account_id,
            webhook_id = %webhook.id,
            resolution_id = %entry.id,
            source = source.as_str(),
            attempts = entry.attempts.len(),
            duration_ms = entry.duration_ms,
            "resolved"
        );
        let url_failed = source == Source::Fallback && webhook.status == Status::Active;
        self.after_answer(webhook, &entry, url_failed).await;
        resolution
    }

    /// One call, for the console's "Test": the answer and every variable path in it. Recorded
    /// in the webhook's log.
    pub async fn test(&self, webhook: &Webhook, variables: &Value) -> TestOutcome {
        let (outcome, entry) = self.call_once(webhook, variables).await;
        self.after_answer(webhook, &entry, false).await;
        outcome
    }

    /// One call of a webhook that is not saved yet (the console's "Test" before "Save"):
    /// as `test`, but recorded nowhere, since there is no webhook to log it under.
    pub async fn test_draft(&self, webhook: &Webhook, variables: &Value) -> TestOutcome {
        self.call_once(webhook, variables).await.0
    }

    async fn call_once(
        &self,
        webhook: &Webhook,
        variables: &Value,
    ) -> (TestOutcome, ActivityEntry) {
        let started = Instant::now();
        let FlowConfig::Inbound(config) = &webhook.config else {
            unreachable!("callers test inbound webhooks only");
        };
        let msg_id = ids::new_inbound_call_id(self.clock.now());
        let (base, missing) = prepare(webhook, config, variables);
        let (data, mut attempts) = self.call(webhook, &base, &msg_id, 1).await;
        let attempt = attempts.pop().unwrap_or(Attempt {
            at: self.clock.now(),
            status: None,
            error: Some("the deadline passed before the call".into()),
            duration_ms: 0,
            response_body: None,
            manual: false,
        });
        let entry = ActivityEntry {
            id: msg_id,
            kind: "test".into(),
            at: self.clock.now(),
            source: if data.is_some() {
                "webhook"
            } else {
                "fallback"
            }
            .into(),
            attempts: vec![attempt.clone()],
            duration_ms: millis(started.elapsed()),
            missing_placeholders: missing.clone(),
        };
        let outcome = TestOutcome {
            ok: data.is_some(),
            attempt,
            discovered_variables: data.as_ref().map(discover).unwrap_or_default(),
            data,
            missing_placeholders: missing,
        };
        (outcome, entry)
    }

    /// The log entry and, when the URL failed, the throttled e-mail; within a fixed budget,
    /// and never able to change the answer.
    async fn after_answer(&self, webhook: &Webhook, entry: &ActivityEntry, url_failed: bool) {
        let record = async {
            let expires = entry.at + self.settings.log_retention;
            if let Err(e) = self
                .store
                .record_activity(&webhook.account_id, &webhook.id, entry, expires)
                .await
            {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "could not record the resolution");
            }
        };
        let notify = async {
            if url_failed {
                self.notify_failure(webhook, entry).await;
            }
        };
        if tokio::time::timeout(self.settings.side_effect_budget, async {
            tokio::join!(record, notify)
        })
        .await
        .is_err()
        {
            tracing::warn!(webhook_id = %webhook.id, "log or e-mail did not finish within its budget");
        }
    }

    async fn notify_failure(&self, webhook: &Webhook, entry: &ActivityEntry) {
        let claimed = self
            .store
            .claim_notice(
                &webhook.account_id,
                &webhook.id,
                "inbound-failure",
                entry.at,
                self.settings.notice_window,
                &crate::store::NoticeClaim {
                    notice: entry.id.clone(),
                    holder: entry.id.clone(),
                    until: entry.at + std::time::Duration::from_secs(60),
                },
            )
            .await;
        match claimed {
            Ok(crate::store::NoticeGrant::Granted) => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "could not claim the failure notice");
                return;
            }
        }
        match self
            .store
            .spend(
                &webhook.account_id,
                Allowance::EmailsPerHour,
                entry.at,
                1,
                self.settings.emails_per_hour.into(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(account_id = %webhook.account_id, webhook_id = %webhook.id,
                    "the account's e-mails for this hour are spent; failure e-mail not sent");
                return;
            }
            Err(e) => {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "could not take from the e-mail budget");
                return;
            }
        }
        let email = failure_email(webhook, entry, self.settings.notice_window);
        match self.mailer.send(&email).await {
            Ok(()) => tracing::info!(webhook_id = %webhook.id, "failure e-mail sent"),
            Err(e) => {
                tracing::warn!(webhook_id = %webhook.id, error = %e, "failure e-mail not sent");
                // Not sent, not counted: a rejected address must not use up the account's hour.
                let account = &webhook.account_id;
                let back = self
                    .store
                    .give_back(account, Allowance::EmailsPerHour, entry.at, 1);
                if let Err(e) = back.await {
                    tracing::warn!(webhook_id = %webhook.id, error = %e, "e-mail budget not given back");
                }
            }
        }
    }
}

/// Query parameters whose values are credentials by their name; masked in e-mails.
const SENSITIVE_PARAMS: [&str; 9] = [
    "token",
    "key",
    "apikey",
    "api_key",
    "secret",
    "password",
    "signature",
    "sig",
    "auth",
];

/// The URL template with credential-looking query values masked. It is the template, not the
/// rendered URL, so no conversation data (e-mail addresses...) goes into the e-mail either.
pub fn masked_url(template: &str) -> String {
    let Some((base, query)) = template.split_once('?') else {
        return template.to_string();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _))
                if SENSITIVE_PARAMS
                    .iter()
                    .any(|s| k.to_ascii_lowercase().contains(s)) =>
            {
                format!("{k}=****")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

fn failure_email(webhook: &Webhook, entry: &ActivityEntry, window: time::Duration) -> Email {
    let rfc3339 = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut text = format!(
        "Your inbound webhook {} ({}) did not give a valid answer, so the chat received the \
         fallback response you configured.\n\nWhen: {}\nURL: {}\nResolution: {}\n\nTries:\n",
        quoted_name(&webhook.name),
        webhook.id,
        rfc3339(entry.at),
        excerpt(&masked_url(&webhook.url), 200),
        entry.id,
    );
    for (i, a) in entry.attempts.iter().enumerate() {
        let outcome = match (&a.status, &a.error) {
            (_, Some(e)) => quoted_error(e),
            (Some(s), None) => format!("HTTP {s}"),
            (None, None) => "no answer".into(),
        };
        text.push_str(&format!(
            "  {}. {} at {} ({} ms)\n",
            i + 1,
            outcome,
            rfc3339(a.at),
            a.duration_ms
        ));
    }
    text.push_str(&format!(
        "\nYou get at most one of these e-mails per webhook every {} minutes.\n",
        window.whole_minutes()
    ));
    Email::new(
        &webhook.notification_email,
        &format!(
            "Inbound webhook {} failed; the fallback response was used",
            quoted_name(&webhook.name)
        ),
        &text,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_urls_hide_credentials_but_not_structure() {
        assert_eq!(
            masked_url("https://e.com/o?email={{visitor.email}}&api_key=abc123&Token=x&page=2"),
            "https://e.com/o?email={{visitor.email}}&api_key=****&Token=****&page=2"
        );
        assert_eq!(masked_url("https://e.com/o"), "https://e.com/o");
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_millis(100));
            assert!(
                j >= Duration::from_millis(75) && j <= Duration::from_millis(125),
                "{j:?}"
            );
        }
    }
}
