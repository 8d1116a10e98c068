//! SES as the engine meets it: `SendEmail` that sometimes fails (throttling, "Sending quotas").

use std::sync::{Arc, Mutex};

use hookline::notify::{Email, MailError, Mailer};

use crate::crash_point;
use crate::world::World;

#[derive(Clone, Debug)]
pub struct SentMail {
    pub at: u64,
    pub webhook_id: String,
    /// `failing`, `exhausted` or `disabled`.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Clone)]
pub struct SimMailer {
    world: World,
    pub sent: Arc<Mutex<Vec<SentMail>>>,
    /// Calls that failed, by (webhook, kind).
    pub failed: Arc<Mutex<Vec<(String, &'static str)>>>,
}

impl SimMailer {
    pub fn new(world: World) -> Self {
        Self {
            world,
            sent: Arc::default(),
            failed: Arc::default(),
        }
    }
}

/// Which notice an e-mail is, and for which webhook (its text names it in parentheses).
pub fn classify(email: &Email) -> (&'static str, String) {
    let kind = if email.subject.ends_with("is failing") {
        "failing"
    } else if email.subject.contains("failed for good") {
        "exhausted"
    } else if email.subject.ends_with("was disabled") {
        "disabled"
    } else {
        "other"
    };
    let webhook = email
        .text
        .split(['(', ')'])
        .find(|part| part.starts_with("wh_"))
        .unwrap_or_default()
        .to_string();
    (kind, webhook)
}

impl Mailer for SimMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let w = &self.world;
        crash_point!(w, "crash.before.ses", w.faults.crash_before_call);
        w.scheduler
            .sleep(std::time::Duration::from_millis(w.rng.between(20, 80)))
            .await;
        let (kind, webhook_id) = classify(email);
        if w.fault("ses.error", w.faults.ses_error) {
            self.failed.lock().unwrap().push((webhook_id, kind));
            return Err(MailError(
                "Throttling: Maximum sending rate exceeded".into(),
            ));
        }
        w.trace(|| format!("SES {kind} e-mail for {webhook_id}"));
        w.mailed(&webhook_id, kind);
        self.sent.lock().unwrap().push(SentMail {
            at: w.now_ms(),
            webhook_id,
            kind,
            text: email.text.clone(),
        });
        crash_point!(w, "crash.after.ses", w.faults.crash_after_call);
        Ok(())
    }
}
