//! What must hold at the end of every run (issue 13's list), checked against the models' own
//! records: the table, the queues, what each receiver saw and what SES sent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use hookline::model::{DeliveryStatus, Webhook};
use hookline::store::{collect_page, Page, MAX_READS_PER_PAGE};
use time::OffsetDateTime;

use crate::dynamo::Timeline;
use crate::world::{fmt_ms, World};
use crate::Outcome;

pub struct Checked {
    pub violations: Vec<String>,
    pub max_lateness_ms: u64,
}

fn ms(t: OffsetDateTime) -> u64 {
    World::ms_of(t).max(0) as u64
}

/// Was the webhook active and subscribed to `event` during all of [from, to]?
fn subscribed_throughout(
    timeline: &[(u64, Option<Webhook>)],
    event: hookline::model::EventType,
    from: u64,
    to: u64,
) -> bool {
    let ok = |w: &Option<Webhook>| {
        w.as_ref()
            .is_some_and(|w| w.indexed_events().contains(&event))
    };
    // The version in force at `from`, and every version written up to `to`.
    let at_from = timeline.iter().rev().find(|(t, _)| *t <= from);
    at_from.is_some_and(|(_, w)| ok(w))
        && timeline
            .iter()
            .filter(|(t, _)| *t > from && *t <= to)
            .all(|(_, w)| ok(w))
}

pub fn check(o: &Outcome) -> Checked {
    let mut v = Vec::new();
    let slack = o.config.lateness_slack_ms;
    let schedule = &o.config.settings.schedule;
    let window = o.config.settings.notice_window.whole_milliseconds() as u64;
    if o.work_left {
        v.push(format!(
            "work left at the horizon ({}): {} event and {} + {} delivery messages (prompt + slow)",
            fmt_ms(o.config.horizon_ms),
            o.queues.events.len(),
            o.queues.deliveries.len(),
            o.queues.slow.len()
        ));
    }
    for queue in o.queues.all() {
        for m in queue.dead_letters() {
            v.push(format!(
                "a well-formed message ended in the {} dead-letter queue after {} receives: {}",
                queue.name, m.receive_count, m.body
            ));
        }
    }
    // Read before the table's lock is taken below.
    let timelines: HashMap<String, Timeline> = o
        .plan
        .webhooks
        .iter()
        .map(|(w, _)| (w.id.clone(), o.table.webhook_timeline(&w.account_id, &w.id)))
        .collect();
    let tables = o.table.tables();
    for what in &tables.oversized_writes {
        v.push(format!("an item over 400 KB was written: {what}"));
    }

    // When each event id's messages were last taken off the events queue (its fan-out ended).
    let mut fanned_out: HashMap<String, u64> = HashMap::new();
    for (_, body, at) in o.queues.events.deleted() {
        if let Ok(e) = serde_json::from_str::<hookline::events::Event>(&body) {
            let t = fanned_out.entry(e.id).or_default();
            *t = (*t).max(at);
        }
    }
    let mut first_publish: BTreeMap<String, (u64, hookline::events::Event)> = BTreeMap::new();
    for (at, e) in o.published {
        first_publish
            .entry(e.id.clone())
            .or_insert((*at, e.clone()));
    }
    let deliveries: HashMap<(String, String), &crate::dynamo::StoredDelivery> = tables
        .deliveries
        .values()
        .map(|s| {
            (
                (s.delivery.event.id.clone(), s.delivery.webhook_id.clone()),
                s,
            )
        })
        .collect();
    // An exhaustion e-mail covers a delivery that failed for good if it went out within a notice
    // window before, or within an hour after (a queued notice may wait out a crash).
    let exhausted_mail = |webhook: &str, at: u64| {
        o.mailer.sent.lock().unwrap().iter().any(|m| {
            m.webhook_id == webhook
                && m.kind == "exhausted"
                && m.at + window >= at
                && m.at <= at + 3_600_000
        })
    };
    // Or the account's hourly e-mail budget refused an e-mail while the notice could have
    // been sent (from the failure to an hour after it): the budget at work.
    let over_budget = o.world.ledger.lock().unwrap().over_budget.clone();
    let budget_spent = |account: &str, at: u64| {
        over_budget
            .get(account)
            .is_some_and(|refused| refused.iter().any(|r| *r >= at && *r <= at + 3_600_000))
    };

    // Every (event, subscribed active webhook) pair ends in a recorded state.
    for (webhook, _) in &o.plan.webhooks {
        let timeline = &timelines[&webhook.id];
        for (event_id, (at, event)) in &first_publish {
            if event.account_id != webhook.account_id {
                continue;
            }
            let done = fanned_out.get(event_id).copied().unwrap_or(u64::MAX);
            let expected = subscribed_throughout(
                timeline,
                event.event,
                at.saturating_sub(o.config.faults.dynamo_stale_ms),
                done,
            );
            // A message per delivery, recorded when attempted: a webhook deleted in between
            // gets none (its deliveries are gone with it).
            let expected = expected && !timeline.last().is_some_and(|(_, w)| w.is_none());
            let Some(stored) = deliveries.get(&(event_id.clone(), webhook.id.clone())) else {
                if expected {
                    v.push(format!(
                        "{event_id} was never delivered to {} (subscribed and active throughout)",
                        webhook.id
                    ));
                }
                continue;
            };
            let d = &stored.delivery;
            let last = d.attempts.last();
            match d.status {
                DeliveryStatus::Succeeded => {}
                DeliveryStatus::Failed => {
                    let gone = last.is_some_and(|a| a.status == Some(410));
                    let stopped = last.is_some_and(|a| {
                        a.error
                            .as_deref()
                            .is_some_and(|e| e.ends_with("delivery stopped"))
                    });
                    let scheduled = d.attempts.iter().filter(|a| !a.manual).count();
                    let finished = scheduled == schedule.len() + 1;
                    let at_end = last.map(|a| ms(a.at)).unwrap_or_default();
                    if !(gone || stopped || finished) {
                        v.push(format!(
                            "{} failed after {scheduled} attempts, short of the schedule",
                            d.id
                        ));
                    } else if finished
                        && !gone
                        && !exhausted_mail(&webhook.id, at_end)
                        && !budget_spent(&webhook.account_id, at_end)
                    {
                        v.push(format!(
                            "{} failed for good with no exhaustion e-mail",
                            d.id
                        ));
                    }
                }
                DeliveryStatus::Pending => v.push(format!(
                    "{} is still pending at the end ({} attempts, next due {:?})",
                    d.id,
                    d.attempts.len(),
                    d.next_attempt_at.map(|t| fmt_ms(ms(t)))
                )),
            }
        }
    }

    // Attempts follow the schedule: never early, within jitter, late only by the slack.
    let status_by_id: HashMap<&str, DeliveryStatus> = tables
        .deliveries
        .values()
        .map(|s| (s.delivery.id.as_str(), s.delivery.status))
        .collect();
    let mut max_lateness = 0;
    let mut latest = String::new();
    for (id, records) in &tables.records {
        for (k, pair) in records.windows(2).enumerate() {
            let ((at, next, status), (next_at, _, _)) = (&pair[0], &pair[1]);
            let Some(due) = next else { continue };
            let Some(slot) = schedule.get(k) else {
                continue;
            };
            let wait = ms(*due) as f64 - ms(*at) as f64;
            let slot = slot.as_millis() as f64;
            let stretch = if matches!(status, Some(429 | 502 | 503 | 504)) {
                2.0
            } else {
                1.0
            };
            if wait < slot * 0.8 - 1.0 || wait > slot * 1.2 * stretch + 1.0 {
                v.push(format!(
                    "{id}: wait {wait} ms after attempt {} is off the schedule ({slot} ms ±20%)",
                    k + 1
                ));
            }
            if next_at < due {
                v.push(format!(
                    "{id}: attempt {} came {} ms early",
                    k + 2,
                    ms(*due) - ms(*next_at)
                ));
            }
            let late = ms(*next_at).saturating_sub(ms(*due));
            if late > max_lateness {
                max_lateness = late;
                latest = format!("{id}'s attempt {}, due at {}", k + 2, fmt_ms(ms(*due)));
            }
        }
        if let Some((_, Some(due), _)) = records.last() {
            let pending = status_by_id.get(id.as_str()) == Some(&DeliveryStatus::Pending);
            if pending && o.world.now_ms() > ms(*due) + slack {
                v.push(format!(
                    "{id} was due at {} and never attempted again",
                    fmt_ms(ms(*due))
                ));
            }
        }
    }
    if max_lateness > slack {
        v.push(format!(
            "an attempt came {} late (slack {}): {latest}",
            fmt_ms(max_lateness),
            fmt_ms(slack)
        ));
    }

    // A 2xx is not sent again, but where a fault fell between the send and its record; one
    // event id keeps one webhook-id per webhook.
    let excused = o.world.ledger.lock().unwrap().excused.clone();
    let excused_events = o.world.ledger.lock().unwrap().excused_events.clone();
    for (url, seen) in o.receivers.seen.lock().unwrap().iter() {
        let mut by_delivery: BTreeMap<&str, Vec<&crate::receivers::Seen>> = BTreeMap::new();
        let mut ids_by_event: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for s in seen {
            by_delivery.entry(&s.webhook_id_header).or_default().push(s);
            ids_by_event
                .entry(&s.event_id)
                .or_default()
                .insert(&s.webhook_id_header);
        }
        for (event, ids) in ids_by_event {
            if ids.len() > 1 {
                v.push(format!(
                    "{url} got {event} under {} webhook-ids: {ids:?}",
                    ids.len()
                ));
            }
        }
        for (delivery, requests) in by_delivery {
            // Each 2xx that was followed by another request of the same delivery: a send
            // again after a success. (The requests after it, until the next 2xx, are that
            // one resend going through its schedule.)
            let again = requests
                .windows(2)
                .filter(|pair| pair[0].status.is_some_and(|c| (200..300).contains(&c)))
                .count() as u32;
            let allowed = excused.get(delivery).copied().unwrap_or(0)
                + excused_events
                    .get(requests[0].event_id.as_str())
                    .copied()
                    .unwrap_or(0);
            if again > allowed {
                v.push(format!(
                    "{delivery} was sent again after {again} 2xx answer(s), with {allowed} fault(s) between a send and its record"
                ));
            }
        }
    }

    // E-mails: at most one of a kind per webhook per window, none without a failure.
    let mut last_mail: HashMap<(String, &str), u64> = HashMap::new();
    let mut sent = o.mailer.sent.lock().unwrap().clone();
    sent.sort_by_key(|m| m.at);
    let failed_since: HashMap<String, u64> = tables
        .deliveries
        .values()
        .flat_map(|s| {
            s.delivery
                .attempts
                .iter()
                .filter(|a| !a.status.is_some_and(|c| (200..300).contains(&c)))
                .map(move |a| (s.delivery.webhook_id.clone(), ms(a.at)))
        })
        .fold(HashMap::new(), |mut m, (w, t)| {
            let e = m.entry(w).or_insert(t);
            *e = (*e).min(t);
            m
        });
    let excused_mail = o.world.ledger.lock().unwrap().excused_mail.clone();
    let mut repeats: HashMap<(String, String), u32> = HashMap::new();
    for m in &sent {
        if let Some(prev) = last_mail.insert((m.webhook_id.clone(), m.kind), m.at) {
            // SES's own latency (up to 80 ms) may shift a send after its claim.
            if m.at + 1_000 < prev + window {
                let key = (m.webhook_id.clone(), m.kind.to_string());
                let n = repeats.entry(key.clone()).or_default();
                *n += 1;
                // A crash between an e-mail and the mark of its claim may send it again.
                if *n > excused_mail.get(&key).copied().unwrap_or(0) {
                    v.push(format!(
                        "two {} e-mails for {} within the notice window",
                        m.kind, m.webhook_id
                    ));
                }
            }
        }
        if failed_since.get(&m.webhook_id).is_none_or(|t| *t > m.at) {
            v.push(format!(
                "a {} e-mail for {} with no failure before it",
                m.kind, m.webhook_id
            ));
        }
    }
    // Every paged listing returns each matching item exactly once: each webhook's deliveries,
    // by every status filter, through the adapter's pager over strict Query responses.
    for (webhook, _) in &o.plan.webhooks {
        let (account, id) = (webhook.account_id.as_str(), webhook.id.as_str());
        for status in [
            None,
            Some(DeliveryStatus::Pending),
            Some(DeliveryStatus::Succeeded),
            Some(DeliveryStatus::Failed),
        ] {
            // The webhook's own key range: a scan of the whole table per webhook would make
            // wide fan-outs quadratic.
            let from = (account.to_string(), id.to_string(), String::new());
            let mut want: Vec<&str> = tables
                .deliveries
                .range(from..)
                .take_while(|((a, w, _), _)| a == account && w == id)
                .filter(|(_, s)| status.is_none_or(|st| s.delivery.status == st))
                .map(|((_, _, d), _)| d.as_str())
                .collect();
            want.reverse();
            for limit in [1, 7, 100] {
                let listed = futures::executor::block_on(Page::follow(|cursor| {
                    let tables = &tables;
                    async move {
                        collect_page(
                            limit,
                            MAX_READS_PER_PAGE,
                            |d: &hookline::model::Delivery| &d.id,
                            |start| {
                                let page = tables.query_deliveries(
                                    account,
                                    id,
                                    status,
                                    limit + 1,
                                    cursor.as_deref(),
                                    start.as_deref(),
                                );
                                async move { Ok(page) }
                            },
                        )
                        .await
                    }
                }));
                match listed {
                    Ok(got) => {
                        let got: Vec<&str> = got.iter().map(|d| d.id.as_str()).collect();
                        if got != want {
                            v.push(format!(
                                "listing {id}'s deliveries ({status:?}, limit {limit}) gave {} items, not the {} stored",
                                got.len(),
                                want.len()
                            ));
                        }
                    }
                    Err(e) => v.push(format!("listing {id}'s deliveries failed: {e}")),
                }
            }
        }
    }
    drop(tables);

    Checked {
        violations: v,
        max_lateness_ms: max_lateness,
    }
}
