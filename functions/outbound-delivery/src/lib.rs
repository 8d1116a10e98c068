//! The SQS adapter of outbound delivery (docs/delivery-pipeline.md): one batch from the events
//! queue (events to fan out into one delivery message per subscribed webhook) or the
//! deliveries queue (first tries, retries, resends, failure e-mails), answered with
//! `batchItemFailures` so only the records that need another go return to their queue.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::stream::{self, StreamExt};
use hookline::http::HttpClient;
use hookline::notify::Mailer;
use hookline::outbound;
use hookline::queue::{
    DeliveryMessage, DeliveryQueue, EventMessage, FanOutRest, NoticeMessage, Parked, Postpone,
    QueuedEvent, RetryMessage, Source,
};
use time::OffsetDateTime;

/// The invocation's deadline from the Lambda context's `deadline`. Lambda sends epoch
/// milliseconds; cargo lambda's emulator (`make run`) sends the timeout itself (600000), so a
/// value before 2001 is taken as a time from `now`.
pub fn deadline_of(deadline_ms: u64, now: OffsetDateTime) -> OffsetDateTime {
    const YEAR_2001_MS: u64 = 978_307_200_000;
    if deadline_ms < YEAR_2001_MS {
        return now + time::Duration::milliseconds(deadline_ms.min(15 * 60_000) as i64);
    }
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(deadline_ms) * 1_000_000).unwrap_or(now)
}

/// Most records of a batch handled at once: every record of the template's batches (its
/// `DeliveryBatchSize` is at most 100), so one hanging receiver holds no other record back.
/// The engine also relies on it: each record reads the function's timeout from the time left
/// to the deadline, which holds only while every record starts with the invocation.
const RECORDS_AT_ONCE: usize = 100;

/// The batch's answer: `batchItemFailures` names the messages SQS is to keep.
fn keeping(kept: Vec<String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = kept
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// What one SQS message is.
#[derive(Debug)]
enum Parsed {
    /// An event to fan out (the events queue): a batch's events fan out together.
    Event(EventMessage),
    Work(Work),
}

/// One of the function's own messages (the deliveries queues), handled one by one.
#[derive(Debug)]
enum Work {
    Delivery(Box<DeliveryMessage>),
    /// The rest of a fan-out too wide for its invocation.
    Rest(Box<FanOutRest>),
    /// A v1 retry message, queued before the stack was updated.
    Legacy(RetryMessage),
    Notice(NoticeMessage),
}

/// Why a body could not be read, without quoting it: serde's messages can hold the values
/// they met (customer data).
fn unreadable(what: &str, e: serde_json::Error) -> String {
    format!(
        "bad {what}: {:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

/// Which kind a body is, by the keys it has; the values are skipped, not built.
#[derive(serde::Deserialize)]
struct Kind {
    #[serde(rename = "restOf")]
    rest_of: Option<serde::de::IgnoredAny>,
    notice: Option<serde::de::IgnoredAny>,
    v: Option<serde::de::IgnoredAny>,
    #[serde(rename = "deliveryId")]
    delivery_id: Option<serde::de::IgnoredAny>,
}

/// Reads a body straight into its type: the hot path (a delivery message per record) builds
/// no `serde_json::Value` tree of the event and the webhook first. A record of the events
/// queue can only be an event; the function's own kinds come only from the deliveries queue.
fn parse(body: &str, source: Source) -> Result<Parsed, String> {
    // The hot path: a delivery message always begins with its version (`v` is its first
    // field), so it is read once, without the probe's pass over the whole body.
    if body.starts_with("{\"v\":") && matches!(source, Source::Deliveries(_) | Source::Unknown) {
        return serde_json::from_str(body)
            .map(|m| Parsed::Work(Work::Delivery(Box::new(m))))
            .map_err(|e| unreadable("delivery message", e));
    }
    // The events queue's records are events, read in one pass; the probe below runs only to
    // say why one is not.
    if source == Source::Events {
        if let Ok(queued) = serde_json::from_str::<QueuedEvent>(body) {
            if queued.has_internal_keys() {
                return Err("an internal message's keys on the events queue".into());
            }
            return checked_event(queued.into());
        }
    }
    let kind: Kind = serde_json::from_str(body).map_err(|e| unreadable("JSON", e))?;
    let own = kind.rest_of.is_some()
        || kind.notice.is_some()
        || kind.v.is_some()
        || kind.delivery_id.is_some();
    match (source, own) {
        (Source::Events, true) => {
            return Err("an internal message's keys on the events queue".into());
        }
        (Source::Deliveries(_), false) => return Err("an event on a deliveries queue".into()),
        _ => {}
    }
    if !own {
        let message: EventMessage =
            serde_json::from_str(body).map_err(|e| unreadable("event", e))?;
        return checked_event(message);
    }
    let work = if kind.rest_of.is_some() {
        serde_json::from_str(body)
            .map(|m| Work::Rest(Box::new(m)))
            .map_err(|e| unreadable("fan-out rest", e))
    } else if kind.notice.is_some() {
        serde_json::from_str(body)
            .map(Work::Notice)
            .map_err(|e| unreadable("notice", e))
    } else if kind.v.is_some() {
        serde_json::from_str(body)
            .map(|m| Work::Delivery(Box::new(m)))
            .map_err(|e| unreadable("delivery message", e))
    } else {
        serde_json::from_str(body)
            .map(Work::Legacy)
            .map_err(|e| unreadable("v1 retry message", e))
    };
    work.map(Parsed::Work)
}

/// Publishers may send straight to the events queue: the API's checks, made here.
fn checked_event(message: EventMessage) -> Result<Parsed, String> {
    message
        .event
        .check_queued()
        .map_err(|e| format!("bad event: {}: {}", e.field, e.message))?;
    Ok(Parsed::Event(message))
}

/// Which receive this is and when the message was sent, from the record's attributes (one
/// pass over the few there are, rather than a hashed lookup of each name).
fn receive_of(message: &SqsMessage) -> outbound::Receive {
    let (mut count, mut sent_ms) = (None, None);
    for (name, value) in &message.attributes {
        match name.as_str() {
            "ApproximateReceiveCount" => count = value.parse::<i64>().ok(),
            "SentTimestamp" => sent_ms = value.parse::<i64>().ok(),
            _ => {}
        }
    }
    outbound::Receive {
        // Missing (never from SQS): treated as a repeat, so the checked path runs.
        count: count.map_or(u32::MAX, |n| n.clamp(1, u32::MAX as i64) as u32),
        sent_at: sent_ms
            .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH),
    }
}

/// What became of one of the function's own messages.
enum Outcome {
    /// Finished with: Lambda deletes it.
    Done,
    /// Kept on its queue (hidden until it is due, or failed).
    Keep,
    /// Finished with once this message is queued in its place: a delayed copy (parked near
    /// the in-flight quota) or a first try moved to the slow lane.
    SendAgain(hookline::queue::Encoded),
}

/// The copy sent in place of a parked message, in the lane it came from and due when it is
/// to be handled; `None` for kinds that are never sent again (notices and rests wait minutes
/// at most) and for a message sent again `MAX_PARKED` times (hidden instead, so its receives
/// count toward the dead-letter queue).
fn parked_copy(
    work: &Work,
    source: Source,
    until: OffsetDateTime,
) -> Option<hookline::queue::Encoded> {
    let delivery = match work {
        Work::Delivery(delivery) => delivery.as_ref().clone(),
        // A v1 retry goes on as the v2 message it stands for.
        Work::Legacy(retry) => retry.as_delivery(),
        Work::Rest(_) | Work::Notice(_) => return None,
    };
    if delivery.parked >= hookline::queue::MAX_PARKED {
        return None;
    }
    let mut copy = delivery.parked_copy();
    copy.due_at = Some(until);
    if let Source::Deliveries(lane) = source {
        copy.lane = lane;
    }
    Some(copy)
}

async fn process<S, H, M, Q>(
    engine: &outbound::Deliverer<S, H, M, Q>,
    message: &SqsMessage,
    source: Source,
    work: &Work,
    deadline: OffsetDateTime,
) -> Outcome
where
    S: outbound::Backend,
    H: HttpClient,
    M: Mailer,
    Q: DeliveryQueue + Postpone,
{
    let id = message.message_id.as_deref().unwrap_or_default();
    let mut receive = receive_of(message);
    let outcome = match work {
        Work::Delivery(delivery) => {
            // A copy's receives begin again at 1 on SQS: its predecessors' count too.
            receive.count = receive.count.saturating_add(delivery.parked);
            engine.deliver(delivery, &receive, deadline).await
        }
        // Boxed: the fan-out's future is deep, and it is rare on this queue.
        Work::Rest(rest) => Box::pin(engine.fan_out_rest(rest, deadline)).await,
        Work::Legacy(retry) => engine.deliver_legacy(retry, deadline).await,
        Work::Notice(notice) => engine.send_notice(notice).await,
    };
    match outcome {
        Ok(outbound::Handled::Done) => Outcome::Done,
        Ok(outbound::Handled::SendInstead(moved)) => Outcome::SendAgain(moved.encode()),
        Ok(outbound::Handled::KeepUntil(at)) => {
            let receipt = message.receipt_handle.as_deref().unwrap_or_default();
            let wait = std::time::Duration::try_from(at - engine.clock().now()).unwrap_or_default();
            let copy = parked_copy(work, source, at);
            match engine
                .queue()
                .postpone(source, receipt, wait, copy.is_some())
                .await
            {
                Ok(Parked::Hidden) => Outcome::Keep,
                Ok(Parked::SendAgain) => match copy {
                    Some(copy) => Outcome::SendAgain(copy),
                    None => Outcome::Keep,
                },
                Err(e) => {
                    // It comes back after the queue's visibility timeout instead.
                    tracing::warn!(message_id = id, error = %e, "could not park the message until it is due");
                    Outcome::Keep
                }
            }
        }
        Err(e) => {
            tracing::error!(message_id = id, error = %e, "message failed; it will be received again");
            Outcome::Keep
        }
    }
}

/// Handles a batch within the invocation's `deadline`; the answer lists the messages
/// to keep.
pub async fn handle_batch<S, H, M, Q>(
    engine: &outbound::Deliverer<S, H, M, Q>,
    event: SqsEvent,
    deadline: OffsetDateTime,
) -> SqsBatchResponse
where
    S: outbound::Backend,
    H: HttpClient,
    M: Mailer,
    Q: DeliveryQueue + Postpone,
{
    let id_of = |m: &SqsMessage| m.message_id.clone().unwrap_or_default();
    let mut kept = Vec::new();
    let mut events = Vec::new();
    let mut rest = Vec::new();
    for message in &event.records {
        let source = engine
            .queue()
            .source_of(message.event_source_arn.as_deref());
        match parse(message.body.as_deref().unwrap_or_default(), source) {
            Ok(Parsed::Event(e)) => events.push((message, e)),
            Ok(Parsed::Work(work)) => rest.push((message, source, work)),
            Err(why) => {
                // Left on the queue: after maxReceiveCount receives the redrive policy moves
                // it to the dead-letter queue, where it waits for a person.
                tracing::error!(message_id = id_of(message), why, "unreadable message");
                kept.push(id_of(message));
            }
        }
    }
    if !events.is_empty() {
        // The batch's events fan out together, so their delivery messages share
        // SendMessageBatch calls; an event whose messages were not all queued comes back
        // (repeats are safe).
        let all: Vec<(&EventMessage, outbound::Receive)> = events
            .iter()
            .map(|(message, e)| (e, receive_of(message)))
            .collect();
        let results = engine.fan_out_all(&all, deadline).await;
        for ((message, e), result) in events.iter().zip(results) {
            match result {
                Ok(n) => {
                    tracing::debug!(event_id = %e.event.id, deliveries = n, "event fanned out")
                }
                Err(why) => {
                    tracing::error!(message_id = id_of(message), event_id = %e.event.id, error = %why, "fan-out incomplete; the event will be received again");
                    kept.push(id_of(message));
                }
            }
        }
    }
    let outcomes: Vec<(&SqsMessage, Outcome)> = stream::iter(rest.iter())
        .map(|(message, source, work)| async move {
            (
                *message,
                process(engine, message, *source, work, deadline).await,
            )
        })
        .buffer_unordered(RECORDS_AT_ONCE)
        .collect()
        .await;
    let mut copies = Vec::new();
    let mut copied = Vec::new();
    for (message, outcome) in outcomes {
        match outcome {
            Outcome::Done => {}
            Outcome::Keep => kept.push(id_of(message)),
            Outcome::SendAgain(copy) => {
                copies.push(copy);
                copied.push(id_of(message));
            }
        }
    }
    kept.extend(send_copies(engine, copies, copied).await);
    keeping(kept)
}

/// Queues the batch's copies (parked messages, moves to the slow lane) with
/// `queue::enqueue_by_call`; answers the ids of the originals whose copy may not have been
/// queued, which stay on their queue (a copy that did go is checked, so the two meet at the
/// claim). One refused call keeps the originals it carried, not the batch.
async fn send_copies<S, H, M, Q>(
    engine: &outbound::Deliverer<S, H, M, Q>,
    copies: Vec<hookline::queue::Encoded>,
    originals: Vec<String>,
) -> Vec<String>
where
    S: outbound::Backend,
    H: HttpClient,
    M: Mailer,
    Q: DeliveryQueue + Postpone,
{
    let now = engine.clock().now();
    let mut kept = Vec::new();
    hookline::queue::enqueue_by_call(engine.queue(), &copies, now, |i, result| {
        if result.is_err() {
            kept.push(originals[i].clone());
        }
    })
    .await;
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_unknown(body: &str) -> Result<Parsed, String> {
        parse(body, Source::Unknown)
    }

    #[test]
    fn the_events_queue_carries_events_only_and_the_deliveries_queue_none() {
        // A publisher may write to the events queue: a delivery message there could name any
        // URL and credentials, a notice any address, a rest any account.
        let delivery = serde_json::json!({"v": 2, "deliveryId": "dlv_1", "accountId": "acme",
            "webhookId": "wh_1", "webhook": {"url": "http://169.254.169.254/"}})
        .to_string();
        let notice = serde_json::json!({"notice": "exhausted", "accountId": "acme"}).to_string();
        for body in [&delivery, &notice] {
            let refused = parse(body, Source::Events);
            assert!(
                matches!(&refused, Err(why) if why.contains("events queue")),
                "{refused:?}"
            );
        }
        let event = serde_json::json!({"id": "evt_1", "event": "case:new", "accountId": "acme",
            "occurredAt": "2026-12-01T00:00:00Z", "data": {"caseId": "9"}})
        .to_string();
        assert!(matches!(
            parse(&event, Source::Events),
            Ok(Parsed::Event(_))
        ));
        let refused = parse(&event, Source::Deliveries(hookline::queue::Lane::Slow));
        assert!(
            matches!(&refused, Err(why) if why.contains("deliveries queue")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_delivery_message_starts_with_its_version_and_is_read_in_one_pass() {
        let message = DeliveryMessage {
            check: true,
            slow: true,
            ..DeliveryMessage::new("dlv_1", "acme", "wh_1")
        };
        let body = message.encode().body;
        assert!(body.starts_with("{\"v\":"), "{body}");
        let lane = Source::Deliveries(hookline::queue::Lane::Slow);
        assert!(
            matches!(parse(&body, lane), Ok(Parsed::Work(Work::Delivery(read))) if *read == message)
        );
        // Not on the events queue, whatever its first key.
        assert!(parse(&body, Source::Events).is_err());
    }

    #[test]
    fn a_record_s_queue_is_told_by_its_event_source_arn() {
        let sdk = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::Config::builder()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .build(),
        );
        let queue = hookline::queue::SqsDeliveryQueue::new(
            sdk,
            "https://sqs.us-east-1.amazonaws.com/123456789012/hookline-deliveries",
        );
        let arn = |name: &str| format!("arn:aws:sqs:us-east-1:123456789012:{name}");
        assert_eq!(
            queue.source_of(Some(&arn("hookline-deliveries"))),
            Source::Deliveries(hookline::queue::Lane::Prompt)
        );
        assert_eq!(
            queue.source_of(Some(&arn("hookline-events"))),
            Source::Events
        );
        assert_eq!(queue.source_of(None), Source::Events);
    }

    #[test]
    fn an_event_sent_straight_to_the_queue_gets_the_api_s_checks() {
        let event = |id: &str, data: serde_json::Value| {
            serde_json::json!({"id": id, "event": "case:new", "accountId": "acme",
                "occurredAt": "2026-12-01T00:00:00Z", "data": data})
            .to_string()
        };
        assert!(matches!(
            parse_unknown(&event("evt_1", serde_json::json!({"caseId": "9"}))),
            Ok(Parsed::Event(_))
        ));
        let bad_id = parse_unknown(&event("evt 1/../x", serde_json::json!({"caseId": "9"})));
        assert!(
            matches!(&bad_id, Err(why) if why.starts_with("bad event: id:")),
            "{bad_id:?}"
        );
        let no_case = parse_unknown(&event("evt_1", serde_json::json!({})));
        assert!(
            matches!(&no_case, Err(why) if why.contains("data.caseId")),
            "{no_case:?}"
        );
        let big = "x".repeat(70 * 1024);
        let too_big = parse_unknown(&event(
            "evt_1",
            serde_json::json!({"caseId": "9", "note": big}),
        ));
        assert!(
            matches!(&too_big, Err(why) if why.contains("64 KiB")),
            "{too_big:?}"
        );
    }

    #[test]
    fn an_unreadable_message_is_described_without_quoting_it() {
        let body = serde_json::json!({"id": "evt_1", "event": "card 4111 1111 1111 1111",
            "accountId": "acme", "occurredAt": "2026-12-01T00:00:00Z", "data": {}})
        .to_string();
        let Err(why) = parse(&body, Source::Unknown) else {
            panic!("read an unknown event type")
        };
        assert!(!why.contains("4111"), "{why}");
        assert!(why.starts_with("bad event: Data error at line"), "{why}");
    }

    #[test]
    fn a_fan_out_rest_is_read_as_one() {
        let rest = FanOutRest {
            rest_of: hookline::events::Event::from_publish(
                &serde_json::json!({"id": "evt_1", "event": "case:new", "data": {"caseId": "9"}}),
                "acme",
                OffsetDateTime::UNIX_EPOCH,
            )
            .unwrap(),
            after: "wh_9".into(),
            republished: false,
            due_at: None,
            planned_at: None,
        };
        let body = rest.encode().body;
        assert!(
            matches!(parse(&body, Source::Unknown), Ok(Parsed::Work(Work::Rest(read))) if *read == rest)
        );
    }

    #[test]
    fn a_deadline_is_epoch_milliseconds_or_the_emulator_s_timeout() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let lambda = 1_800_000_120_000;
        assert_eq!(deadline_of(lambda, now), now + time::Duration::seconds(120));
        assert_eq!(deadline_of(600_000, now), now + time::Duration::minutes(10));
    }
}
