//! The delivery engine's pure decisions: what follows an attempt, how long to wait, how a
//! receiver's answer is judged. No I/O, no clock: every input is an argument, so each rule is
//! tested on its own.

use std::time::Duration;

use time::OffsetDateTime;

use crate::http::{HttpError, HttpResponse};
use crate::model::DeliveryStatus;
use crate::random::Random;

/// ±20%, so the retries of many deliveries that failed together spread out.
pub fn jitter(base: Duration, random: &dyn Random) -> Duration {
    base.mul_f64(0.8 + 0.4 * random.unit())
}

/// The wait before the next attempt: the jittered slot, stretched by the receiver's
/// `Retry-After` up to twice the slot, never shortened by it (a receiver cannot make us
/// retry faster than the schedule, nor park a delivery for days).
pub fn retry_wait(slot: Duration, retry_after: Option<Duration>) -> Duration {
    retry_after.map_or(slot, |asked| asked.clamp(slot, slot * 2))
}

/// Whole milliseconds, as the table keeps times: a message's due time and the record's are
/// then the same instant.
pub fn whole_ms(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .expect("whole milliseconds of a valid time are valid")
}

/// How long an attempt waits for its answer. While a webhook is failing (its first try's
/// fan-out saw the streak, or this is one of the delivery's early retries), the first
/// `suspect_attempts` scheduled attempts of a delivery wait at most `suspect_limit`: a
/// receiver that hangs then holds a delivery function's slot briefly, and other accounts
/// keep theirs. Later retries, and resends a user asks for, wait the webhook's full timeout,
/// so a slow receiver still gets through (and ends the streak).
pub fn attempt_timeout(
    configured: Duration,
    suspect_limit: Duration,
    suspect_attempts: usize,
    scheduled_before: usize,
    manual: bool,
    failing: bool,
) -> Duration {
    let early = scheduled_before < suspect_attempts;
    let suspect = !manual && early && (failing || scheduled_before > 0);
    if suspect {
        configured.min(suspect_limit)
    } else {
        configured
    }
}

/// How long a first try in the prompt lane waits for its answer: at most `prompt_limit`,
/// whatever the webhook's own timeout, so no receiver holds a prompt-lane invocation (and the
/// other accounts' deliveries behind it) for longer. `Some` when that cuts the attempt short:
/// unanswered by then, the delivery goes to the slow lane to wait its full timeout there.
pub fn prompt_lane_cut(timeout: Duration, prompt_limit: Duration) -> Option<Duration> {
    (timeout > prompt_limit).then_some(prompt_limit)
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: Option<u16>,
    pub error: Option<String>,
    pub body: Option<String>,
    pub success: bool,
    /// 410: the receiver is gone for good.
    pub gone: bool,
    pub retry_after: Option<Duration>,
    /// No answer came within the attempt's timeout.
    pub timed_out: bool,
}

/// Judges a receiver's answer (or the failure to get one): 2xx succeeds, 410 ends the
/// delivery, 3xx is not followed, and 429/502/503/504 may ask for a later retry.
pub fn judge(result: Result<HttpResponse, HttpError>, now: OffsetDateTime) -> Verdict {
    match result {
        Err(e) => Verdict {
            status: None,
            timed_out: matches!(e, HttpError::Timeout),
            error: Some(e.to_string()),
            body: None,
            success: false,
            gone: false,
            retry_after: None,
        },
        Ok(r) => {
            let code = r.status;
            let success = (200..300).contains(&code);
            let error = match code {
                _ if success => None,
                300..=399 => Some(format!("HTTP {code}: redirects are not followed")),
                _ => Some(format!("HTTP {code}")),
            };
            let retry_after = matches!(code, 429 | 502 | 503 | 504)
                .then(|| r.retry_after(now))
                .flatten();
            let body = (!r.body.is_empty()).then(|| String::from_utf8_lossy(&r.body).into_owned());
            Verdict {
                status: Some(code),
                error,
                body,
                success,
                gone: code == 410,
                retry_after,
                timed_out: false,
            }
        }
    }
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Next {
    pub status: DeliveryStatus,
    /// When the next attempt is due, if one is.
    pub due: Option<OffsetDateTime>,
    /// The schedule ran out: the delivery failed for good (the exhaustion e-mail goes out).
    pub exhausted: bool,
}

/// Where a delivery stands when an attempt ends. `scheduled_before` counts the scheduled
/// (not manual) attempts that went before this one; a manual resend leaves the schedule as it
/// was (`current`), unless it succeeds or the receiver is gone.
pub fn after_attempt(
    verdict: &Verdict,
    at: OffsetDateTime,
    scheduled_before: usize,
    manual: bool,
    current: (DeliveryStatus, Option<OffsetDateTime>),
    schedule: &[Duration],
    random: &dyn Random,
) -> Next {
    let done = |status| Next {
        status,
        due: None,
        exhausted: false,
    };
    if verdict.success {
        return done(DeliveryStatus::Succeeded);
    }
    if verdict.gone {
        return done(DeliveryStatus::Failed);
    }
    if manual {
        return Next {
            status: current.0,
            due: current.1,
            exhausted: false,
        };
    }
    match schedule.get(scheduled_before) {
        Some(slot) => Next {
            status: DeliveryStatus::Pending,
            due: Some(whole_ms(
                at + retry_wait(jitter(*slot, random), verdict.retry_after),
            )),
            exhausted: false,
        },
        None => Next {
            status: DeliveryStatus::Failed,
            due: None,
            exhausted: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    /// A `Random` that always answers the same fraction.
    struct Fixed(f64);
    impl Random for Fixed {
        fn next_u64(&self) -> u64 {
            (self.0 * u64::MAX as f64) as u64
        }
    }

    fn failed(code: u16) -> Verdict {
        judge(
            Ok(HttpResponse {
                status: code,
                headers: http::HeaderMap::new(),
                body: Vec::new(),
                truncated: false,
            }),
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    const SCHEDULE: [Duration; 2] = [Duration::from_secs(5), Duration::from_secs(300)];

    #[test]
    fn the_prompt_lane_cuts_only_attempts_longer_than_its_limit() {
        let limit = Duration::from_secs(3);
        assert_eq!(prompt_lane_cut(Duration::from_secs(30), limit), Some(limit));
        assert_eq!(prompt_lane_cut(Duration::from_secs(3), limit), None);
        assert_eq!(prompt_lane_cut(Duration::from_secs(1), limit), None);
    }

    #[test]
    fn only_a_missing_answer_counts_as_timed_out() {
        let now = OffsetDateTime::UNIX_EPOCH;
        assert!(judge(Err(HttpError::Timeout), now).timed_out);
        assert!(!judge(Err(HttpError::Connect("reset".into())), now).timed_out);
        assert!(!failed(504).timed_out);
    }

    fn at() -> OffsetDateTime {
        OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000)
    }

    #[test]
    fn jitter_stays_within_a_fifth_either_way() {
        for _ in 0..1000 {
            let j = jitter(Duration::from_secs(100), &OsRandom);
            assert!(
                j >= Duration::from_secs(80) && j <= Duration::from_secs(120),
                "{j:?}"
            );
        }
        assert_eq!(
            jitter(Duration::from_secs(100), &Fixed(0.0)),
            Duration::from_secs(80)
        );
    }

    #[test]
    fn retry_after_stretches_the_slot_at_most_twofold_and_never_shortens_it() {
        let slot = Duration::from_secs(300);
        assert_eq!(retry_wait(slot, None), slot);
        assert_eq!(retry_wait(slot, Some(Duration::from_secs(1))), slot);
        assert_eq!(
            retry_wait(slot, Some(Duration::from_secs(450))),
            Duration::from_secs(450)
        );
        assert_eq!(
            retry_wait(slot, Some(Duration::from_secs(86_400))),
            slot * 2
        );
    }

    #[test]
    fn answers_are_judged_by_their_status() {
        assert!(failed(204).success);
        assert!(failed(410).gone && !failed(410).success);
        assert_eq!(
            failed(302).error.as_deref(),
            Some("HTTP 302: redirects are not followed")
        );
        let timeout = judge(Err(HttpError::Timeout), at());
        assert_eq!(timeout.status, None);
        assert!(timeout.error.is_some() && !timeout.success);
    }

    #[test]
    fn a_failure_waits_its_slot_and_the_last_one_exhausts_the_schedule() {
        let pending = (DeliveryStatus::Pending, None);
        let first = after_attempt(
            &failed(500),
            at(),
            0,
            false,
            pending,
            &SCHEDULE,
            &Fixed(0.5),
        );
        assert_eq!(first.status, DeliveryStatus::Pending);
        assert_eq!(first.due, Some(at() + Duration::from_secs(5)));
        let second = after_attempt(
            &failed(500),
            at(),
            1,
            false,
            pending,
            &SCHEDULE,
            &Fixed(0.5),
        );
        assert_eq!(second.due, Some(at() + Duration::from_secs(300)));
        let last = after_attempt(
            &failed(500),
            at(),
            2,
            false,
            pending,
            &SCHEDULE,
            &Fixed(0.5),
        );
        assert_eq!(
            last,
            Next {
                status: DeliveryStatus::Failed,
                due: None,
                exhausted: true
            }
        );
    }

    #[test]
    fn success_and_gone_end_the_delivery_whatever_the_schedule() {
        let pending = (DeliveryStatus::Pending, Some(at()));
        for manual in [false, true] {
            let ok = after_attempt(&failed(200), at(), 5, manual, pending, &SCHEDULE, &OsRandom);
            assert_eq!(
                (ok.status, ok.due, ok.exhausted),
                (DeliveryStatus::Succeeded, None, false)
            );
            let gone = after_attempt(&failed(410), at(), 0, manual, pending, &SCHEDULE, &OsRandom);
            assert_eq!(
                (gone.status, gone.due, gone.exhausted),
                (DeliveryStatus::Failed, None, false)
            );
        }
    }

    #[test]
    fn a_failed_manual_resend_leaves_the_schedule_as_it_was() {
        let waiting = (
            DeliveryStatus::Pending,
            Some(at() + Duration::from_secs(3_600)),
        );
        let next = after_attempt(&failed(500), at(), 1, true, waiting, &SCHEDULE, &OsRandom);
        assert_eq!((next.status, next.due), waiting);
        let ended = (DeliveryStatus::Failed, None);
        let next = after_attempt(&failed(500), at(), 9, true, ended, &SCHEDULE, &OsRandom);
        assert_eq!(
            (next.status, next.due, next.exhausted),
            (DeliveryStatus::Failed, None, false)
        );
    }

    #[test]
    fn failing_webhooks_wait_briefly_on_early_attempts_only() {
        let (full, limit) = (Duration::from_secs(30), Duration::from_secs(5));
        let t = |before, manual, failing| attempt_timeout(full, limit, 3, before, manual, failing);
        assert_eq!(t(0, false, false), full, "a first try to a healthy webhook");
        assert_eq!(
            t(0, false, true),
            limit,
            "a first try while the streak runs"
        );
        assert_eq!(t(1, false, false), limit, "the first retry");
        assert_eq!(t(2, false, false), limit);
        assert_eq!(t(3, false, true), full, "later retries wait it out");
        assert_eq!(t(1, true, true), full, "a resend a user asked for");
        assert_eq!(
            attempt_timeout(Duration::from_secs(2), limit, 3, 1, false, true),
            Duration::from_secs(2),
            "never longer than configured"
        );
    }

    #[test]
    fn due_times_are_whole_milliseconds() {
        let next = after_attempt(
            &failed(503),
            at() + Duration::from_nanos(123_456_789),
            0,
            false,
            (DeliveryStatus::Pending, None),
            &SCHEDULE,
            &OsRandom,
        );
        assert_eq!(next.due.unwrap().nanosecond() % 1_000_000, 0);
    }
}
