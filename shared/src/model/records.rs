//! The records the store's ports take and give besides webhooks and deliveries: leases and
//! claims on deliveries, notice claims, kept events, subscribers and their marks, and failure
//! streaks. The traits that read and write them are in `crate::store`.

use time::OffsetDateTime;

use super::Webhook;

/// Who claims a notice window: `notice` names the e-mail (a redelivered message keeps it),
/// `holder` the run sending it, which holds it until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeClaim {
    pub notice: String,
    pub holder: String,
    pub until: OffsetDateTime,
}

/// The answer to a notice claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeGrant {
    /// Send it.
    Granted,
    /// Another run holds this same notice until the time given: it may still send, or fail.
    Held(OffsetDateTime),
    /// Another notice of the kind went out within the window, or this one already did.
    Taken,
}

/// A claim on a delivery: whoever holds the token may attempt it until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: String,
    pub until: OffsetDateTime,
}

/// The result of trying to claim a delivery for an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// It is ours until the lease ends: attempt it, then `record_attempt`.
    Claimed(crate::model::Delivery),
    /// Someone holds it, it is not due, or it is finished; the current record, when one exists.
    Busy(Option<crate::model::Delivery>),
}

/// What the fast path's one write found.
#[derive(Debug, Clone, PartialEq)]
pub enum FirstRecord {
    /// Written (or written before by this same call, whose reply was lost).
    Recorded,
    /// Another copy of the delivery recorded first: this one was sent twice.
    Exists(Box<crate::model::Delivery>),
}

/// What `keep_event` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Kept {
    /// Stored now.
    New,
    /// The id was stored before: its first time (and type) stand; `queued` once the publish
    /// that stored it queued it (`mark_queued`).
    Existing {
        first: crate::model::EventRef,
        queued: bool,
    },
}

/// A webhook subscribed to an event type, as the fan-out's Query reads it, with the marks its
/// entry carried (`HealthStore::set_mark`).
#[derive(Debug, Clone, PartialEq)]
pub struct Subscriber {
    pub webhook: Webhook,
    /// Its failure streak was running.
    pub failing: bool,
    /// Its receiver answered too slowly for the prompt lane.
    pub slow: bool,
}

/// A mark on a webhook's subscription entries, which the fan-out's Query carries to its next
/// first tries at no extra read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    /// A failure streak began: a success then writes only when it ends one.
    Failing,
    /// The receiver did not answer within the prompt lane's limit: its first tries go to the
    /// slow lane, with the webhook's full timeout.
    Slow,
}

impl Mark {
    /// The entry's attribute that holds it.
    pub fn attribute(self) -> &'static str {
        match self {
            Mark::Failing => "failing",
            Mark::Slow => "slow",
        }
    }
}

/// A webhook's failure streak: consecutive failed attempts and since when, reset by any success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Health {
    pub consecutive_failures: u32,
    pub failing_since: Option<OffsetDateTime>,
}
