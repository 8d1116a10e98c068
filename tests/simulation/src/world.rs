//! What every model shares: simulated time, the seeded source, the faults to inject and their
//! tally, and the trace a failing seed prints.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use crate::executor::{Scheduler, TaskId};
use crate::rng::Rng;

/// How often each fault is injected (a probability per call of that kind).
#[derive(Clone, Debug)]
pub struct Faults {
    /// The process dies right before a call to AWS or a receiver.
    pub crash_before_call: f64,
    /// The call takes effect and the process dies before its reply.
    pub crash_after_call: f64,
    /// DynamoDB answers ProvisionedThroughputExceeded after the SDK's own retries.
    pub dynamo_throttle: f64,
    /// The SDK gives up waiting; the write took effect or not (even odds).
    pub dynamo_timeout: f64,
    /// The write commits, its reply is lost, and the SDK sends it again.
    pub dynamo_lost_reply: f64,
    /// How far behind an eventually consistent read may be (ms).
    pub dynamo_stale_ms: u64,
    /// SendMessage's reply is lost and the SDK sends it again: two copies.
    pub sqs_send_lost_reply: f64,
    pub sqs_error: f64,
    /// A received message stays visible: a second consumer can receive it at once.
    pub sqs_duplicate_receive: f64,
    /// A delete that does not reach every copy: the message comes back.
    pub sqs_delete_lost: f64,
    /// An SQS call takes the SDK's whole operation timeout (12 s) to answer, and succeeds.
    pub sqs_slow: f64,
    pub ses_error: f64,
    /// Faults at chosen places: (point, n) makes the n-th pass (from 1) through `point` fail.
    /// A point is a fault kind (`crash.after.sqs_send`) or, for DynamoDB, the kind and the
    /// operation (`dynamo.lost_reply:UpdateItem record`).
    pub script: Vec<(String, u32)>,
}

impl Faults {
    /// Only the scripted faults.
    pub fn scripted(points: &[(&str, u32)]) -> Self {
        Self {
            script: points.iter().map(|(p, n)| (p.to_string(), *n)).collect(),
            ..Self::none()
        }
    }

    pub fn none() -> Self {
        Self {
            crash_before_call: 0.0,
            crash_after_call: 0.0,
            dynamo_throttle: 0.0,
            dynamo_timeout: 0.0,
            dynamo_lost_reply: 0.0,
            dynamo_stale_ms: 0,
            sqs_send_lost_reply: 0.0,
            sqs_error: 0.0,
            sqs_duplicate_receive: 0.0,
            sqs_delete_lost: 0.0,
            sqs_slow: 0.0,
            ses_error: 0.0,
            script: Vec::new(),
        }
    }

    /// Every fault on, often enough that each seed meets several of each kind.
    pub fn all() -> Self {
        Self {
            crash_before_call: 0.002,
            crash_after_call: 0.002,
            dynamo_throttle: 0.004,
            dynamo_timeout: 0.003,
            dynamo_lost_reply: 0.004,
            dynamo_stale_ms: 1_000,
            sqs_send_lost_reply: 0.004,
            sqs_error: 0.003,
            sqs_duplicate_receive: 0.003,
            sqs_delete_lost: 0.003,
            sqs_slow: 0.002,
            ses_error: 0.02,
            script: Vec::new(),
        }
    }
}

/// The simulated start of every run.
pub const EPOCH: OffsetDateTime = time::macros::datetime!(2026-12-01 0:00 UTC);

/// Which 2xx answers are not yet recorded, and how many duplicates faults excuse per delivery.
#[derive(Default)]
pub struct Ledger {
    /// 2xx answers not yet recorded, by (delivery, the invocation that got it): two copies of
    /// one delivery may be in flight in two invocations at once.
    unrecorded: HashSet<(String, TaskId)>,
    pub excused: HashMap<String, u32>,
    /// E-mails sent whose claim is not yet marked sent, by (webhook, kind), and the second
    /// e-mails within a window that faults there excuse.
    unmarked_mail: HashMap<(String, String), TaskId>,
    pub excused_mail: HashMap<(String, String), u32>,
    /// Events whose message SQS duplicated (a lost reply to the send, a receive left
    /// visible): each of their deliveries may be sent once more per duplicate (a first try
    /// takes no claim).
    pub excused_events: HashMap<String, u32>,
    /// When the account's hourly e-mail budget refused an e-mail, by account: a notice
    /// dropped then is the budget at work, not a lost e-mail.
    pub over_budget: HashMap<String, Vec<u64>>,
}

#[derive(Default)]
struct Tally {
    faults: BTreeMap<&'static str, u64>,
    /// What the models met that is not an injected fault (a timeout, a quota reached).
    conditions: BTreeMap<&'static str, u64>,
    /// Passes through each scripted point so far.
    passes: HashMap<String, u32>,
    trace: Vec<String>,
}

#[derive(Clone)]
pub struct World {
    pub scheduler: Scheduler,
    pub rng: Rng,
    pub faults: Arc<Faults>,
    tally: Arc<Mutex<Tally>>,
    invocations: Arc<Mutex<HashSet<TaskId>>>,
    pub ledger: Arc<Mutex<Ledger>>,
    pub trace_on: bool,
}

impl World {
    pub fn new(seed: u64, faults: Faults, trace_on: bool) -> Self {
        Self {
            scheduler: Scheduler::default(),
            rng: Rng::new(seed),
            faults: Arc::new(faults),
            tally: Arc::default(),
            invocations: Arc::default(),
            ledger: Arc::default(),
            trace_on,
        }
    }

    pub fn now_ms(&self) -> u64 {
        self.scheduler.now_ms()
    }

    pub fn now(&self) -> OffsetDateTime {
        EPOCH + time::Duration::milliseconds(self.now_ms() as i64)
    }

    pub fn ms_of(t: OffsetDateTime) -> i64 {
        ((t - EPOCH).whole_milliseconds()) as i64
    }

    /// Draws a fault of probability `p` (or takes a scripted one); counts it under `kind`.
    pub fn fault(&self, kind: &'static str, p: f64) -> bool {
        self.fault_at(kind, kind, p)
    }

    /// `fault` at a named point: the script may name the point, the draw counts as `kind`.
    pub fn fault_at(&self, kind: &'static str, point: &str, p: f64) -> bool {
        let scripted = !self.faults.script.is_empty() && {
            let mut tally = self.tally.lock().unwrap();
            let n = tally.passes.entry(point.to_string()).or_default();
            *n += 1;
            let n = *n;
            self.faults
                .script
                .iter()
                .any(|(at, nth)| at == point && *nth == n)
        };
        if !scripted && !self.rng.chance(p) {
            return false;
        }
        *self.tally.lock().unwrap().faults.entry(kind).or_default() += 1;
        self.trace(|| format!("FAULT {kind}"));
        true
    }

    /// Counts a condition met (not a fault: nothing was injected).
    pub fn count(&self, kind: &'static str) {
        *self
            .tally
            .lock()
            .unwrap()
            .conditions
            .entry(kind)
            .or_default() += 1;
    }

    pub fn condition_counts(&self) -> BTreeMap<&'static str, u64> {
        self.tally.lock().unwrap().conditions.clone()
    }

    pub fn fault_counts(&self) -> BTreeMap<&'static str, u64> {
        self.tally.lock().unwrap().faults.clone()
    }

    pub fn trace(&self, line: impl FnOnce() -> String) {
        if self.trace_on {
            let line = format!("{:>12} {}", fmt_ms(self.now_ms()), line());
            self.tally.lock().unwrap().trace.push(line);
        }
    }

    pub fn take_trace(&self) -> Vec<String> {
        std::mem::take(&mut self.tally.lock().unwrap().trace)
    }

    pub fn register_invocation(&self, task: TaskId) {
        self.invocations.lock().unwrap().insert(task);
    }

    pub fn end_invocation(&self, task: TaskId) {
        self.invocations.lock().unwrap().remove(&task);
    }

    /// The invocation running now, if the current task is one.
    pub fn invocation(&self) -> Option<TaskId> {
        let task = self.scheduler.current()?;
        self.invocations
            .lock()
            .unwrap()
            .contains(&task)
            .then_some(task)
    }

    /// A point where the running invocation may die (`kind` names the place). Returns `true`
    /// when it did: the caller must then await `Never`.
    pub fn crash_here(&self, kind: &'static str, point: &str, p: f64) -> bool {
        let Some(task) = self.invocation() else {
            return false;
        };
        if !self.fault_at(kind, if point.is_empty() { kind } else { point }, p) {
            return false;
        }
        self.kill(task);
        true
    }

    /// Kills an invocation; a 2xx it had not recorded yet may now be sent again.
    pub fn kill(&self, task: TaskId) {
        self.scheduler.kill(task);
        let mut ledger = self.ledger.lock().unwrap();
        let lost: Vec<(String, TaskId)> = ledger
            .unrecorded
            .iter()
            .filter(|(_, t)| *t == task)
            .cloned()
            .collect();
        for entry in lost {
            ledger.unrecorded.remove(&entry);
            *ledger.excused.entry(entry.0).or_default() += 1;
        }
        let lost: Vec<(String, String)> = ledger
            .unmarked_mail
            .iter()
            .filter(|(_, t)| **t == task)
            .map(|(k, _)| k.clone())
            .collect();
        for k in lost {
            ledger.unmarked_mail.remove(&k);
            *ledger.excused_mail.entry(k).or_default() += 1;
        }
    }

    /// `kind` without the `outbound-` of the store's notice kinds: how the e-mails name it.
    fn mail_kind(kind: &str) -> String {
        kind.trim_start_matches("outbound-").to_string()
    }

    /// SES sent an e-mail of `kind` for `webhook` in the running invocation.
    pub fn mailed(&self, webhook: &str, kind: &str) {
        if let Some(task) = self.invocation() {
            self.ledger
                .lock()
                .unwrap()
                .unmarked_mail
                .insert((webhook.to_string(), Self::mail_kind(kind)), task);
        }
    }

    /// Its claim was marked sent (`marked`), or the mark failed: then a copy of its notice
    /// may send it again.
    pub fn mail_marked(&self, webhook: &str, kind: &str, marked: bool) {
        let mut ledger = self.ledger.lock().unwrap();
        let key = (webhook.to_string(), Self::mail_kind(kind));
        if ledger.unmarked_mail.remove(&key).is_some() && !marked {
            *ledger.excused_mail.entry(key).or_default() += 1;
        }
    }

    /// SQS duplicated a v2 first-try message of `delivery`: both copies may send.
    pub fn duplicated_delivery(&self, delivery: &str) {
        *self
            .ledger
            .lock()
            .unwrap()
            .excused
            .entry(delivery.to_string())
            .or_default() += 1;
    }

    /// SQS duplicated the message of `event`.
    pub fn duplicated_event(&self, event: &str) {
        *self
            .ledger
            .lock()
            .unwrap()
            .excused_events
            .entry(event.to_string())
            .or_default() += 1;
    }

    /// A receiver answered 2xx for `delivery` to the running invocation.
    pub fn acked(&self, delivery: &str) {
        if let Some(task) = self.invocation() {
            // Killed earlier in this same poll (another of its concurrent sends crashed): the
            // request was on the wire, its record will never come.
            if self.scheduler.is_doomed(task) {
                *self
                    .ledger
                    .lock()
                    .unwrap()
                    .excused
                    .entry(delivery.to_string())
                    .or_default() += 1;
                return;
            }
            self.ledger
                .lock()
                .unwrap()
                .unrecorded
                .insert((delivery.to_string(), task));
        }
    }

    /// How an attempt's record went: only a fault excuses the 2xx it leaves unrecorded. A
    /// record refused by its condition (another copy recorded first, a lease lost) is the
    /// engine's own doing, and excuses nothing.
    pub fn recorded(&self, delivery: &str, outcome: Recorded) {
        let Some(task) = self.invocation() else {
            return;
        };
        let mut ledger = self.ledger.lock().unwrap();
        if ledger.unrecorded.remove(&(delivery.to_string(), task)) && outcome == Recorded::Faulted {
            *ledger.excused.entry(delivery.to_string()).or_default() += 1;
        }
    }
}

/// What became of an attempt's record (`World::recorded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    Committed,
    /// Its condition failed: not a fault.
    Refused,
    /// DynamoDB failed (throttled, timed out, refused the size): a fault.
    Faulted,
}

/// `crash_point!(world, "kind", p)`: the running invocation may die here (a fourth argument
/// names the point for scripts, when it is more than the kind).
#[macro_export]
macro_rules! crash_point {
    ($world:expr, $kind:expr, $p:expr) => {
        $crate::crash_point!($world, $kind, "", $p)
    };
    ($world:expr, $kind:expr, $point:expr, $p:expr) => {
        if $world.crash_here($kind, $point, $p) {
            $crate::executor::Never.await;
            unreachable!("a killed task is never polled again");
        }
    };
}

/// `1d 02:03:04.005`
pub fn fmt_ms(ms: u64) -> String {
    let (d, rest) = (ms / 86_400_000, ms % 86_400_000);
    format!(
        "{d}d {:02}:{:02}:{:02}.{:03}",
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1000 % 60,
        rest % 1000
    )
}

/// The engine's clock, read from simulated time.
pub struct SimClock(pub World);

impl hookline::clock::Clock for SimClock {
    fn now(&self) -> OffsetDateTime {
        self.0.now()
    }
}
