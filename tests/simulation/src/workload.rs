//! What the simulated customers do: their webhooks and receivers, the events they publish
//! (some twice, as a client retrying a publish would), and their edits while events flow.

use std::time::Duration;

use hookline::model::{
    EventType, FlowConfig, Format, Security, Status, Webhook, WebhookPatch, WebhookRules,
};
use serde_json::json;

use crate::receivers::Behaviour;
use crate::rng::Rng;
use crate::world::EPOCH;

#[derive(Clone, Debug)]
pub struct Shape {
    pub accounts: usize,
    pub webhooks: usize,
    pub events: usize,
    /// Events are published within this window from the start (ms).
    pub publish_window_ms: u64,
    /// Share of events published a second time, later, with the same id.
    pub republish: f64,
    /// Share of webhooks a user disables, re-enables or deletes while events flow.
    pub churn: f64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            accounts: 5,
            webhooks: 50,
            events: 1_000,
            publish_window_ms: 12 * 3_600_000,
            republish: 0.03,
            churn: 0.1,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Action {
    Publish {
        body: serde_json::Value,
        account: String,
    },
    Disable {
        account: String,
        id: String,
    },
    Enable {
        account: String,
        id: String,
    },
    Delete {
        account: String,
        id: String,
    },
}

pub struct Plan {
    pub webhooks: Vec<(Webhook, Behaviour)>,
    /// In time order.
    pub actions: Vec<(u64, Action)>,
}

pub fn id_of(prefix: &str, rng: &Rng) -> String {
    let random = ((rng.next_u64() as u128) << 16) | rng.below(1 << 16) as u128;
    format!(
        "{prefix}{}",
        hookline::ids::encode_ulid(EPOCH.unix_timestamp() as u128 * 1000, random)
    )
}

fn behaviour(rng: &Rng, shape: &Shape) -> Behaviour {
    let mut b = Behaviour::healthy();
    let days = 86_400_000;
    match rng.below(100) {
        0..=44 => b.error = 0.02,
        45..=59 => {
            b.error = 0.3;
            b.hang = 0.05;
            b.reset = 0.05;
        }
        60..=69 => b.latency_ms = (200.0, 40_000.0),
        70..=79 => {
            let from = rng.below(shape.publish_window_ms);
            b.down.push((from, from + rng.between(3_600_000, 3 * days)));
            b.error = 0.05;
        }
        80..=84 => b.gone_from = Some(rng.below(2 * days)),
        85..=92 => {
            b.error = 0.4;
            b.rate_limited = Some(rng.between(1, 7_200));
        }
        _ => {
            b.error = 0.6;
            b.huge_errors = true;
        }
    }
    b
}

pub fn plan(rng: &Rng, shape: &Shape) -> Plan {
    let accounts: Vec<String> = (0..shape.accounts).map(|a| format!("acct{a}")).collect();
    let mut webhooks = Vec::new();
    let mut actions = Vec::new();
    for i in 0..shape.webhooks {
        let account = accounts[i % accounts.len()].clone();
        let url = format!("https://receiver-{i}.example.com/hooks");
        let mut events: Vec<EventType> = EventType::ALL
            .into_iter()
            .filter(|_| rng.chance(0.4))
            .collect();
        if events.is_empty() {
            events.push(*rng.pick(&EventType::ALL));
        }
        let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        let mut webhook = WebhookPatch::from_json(&json!({
            "name": format!("hook {i}"), "flow": "outbound", "url": url,
            "notificationEmail": format!("ops{i}@example.com"), "events": names,
        }))
        .expect("a valid webhook body")
        .create(
            id_of("wh_", rng),
            account.clone(),
            EPOCH,
            &WebhookRules::default(),
        )
        .expect("a valid webhook");
        webhook.format = *rng.pick(&Format::ALL);
        webhook.security = Security::Hmac {
            secret: format!(
                "whsec_{}",
                hookline::ids::hex_lower(&rng.next_u64().to_be_bytes())
            ),
            previous: Vec::new(),
        };
        if let FlowConfig::Outbound(o) = &mut webhook.config {
            o.timeout_ms = *rng.pick(&[1_000, 5_000, 15_000, 30_000]);
        }
        if rng.chance(shape.churn) {
            let at = rng.below(shape.publish_window_ms);
            let (account, id) = (account.clone(), webhook.id.clone());
            if rng.chance(0.3) {
                actions.push((at, Action::Delete { account, id }));
            } else {
                actions.push((
                    at,
                    Action::Disable {
                        account: account.clone(),
                        id: id.clone(),
                    },
                ));
                if rng.chance(0.7) {
                    actions.push((
                        at + rng.between(60_000, 6 * 3_600_000),
                        Action::Enable { account, id },
                    ));
                }
            }
        }
        webhooks.push((webhook, behaviour(rng, shape)));
    }
    for n in 0..shape.events {
        let at = rng.below(shape.publish_window_ms);
        let account = rng.pick(&accounts).clone();
        let kind = *rng.pick(&EventType::ALL);
        let id = format!("evt_sim-{n}");
        let data = match kind {
            EventType::AgentStatus => json!({"agentId": id, "status": "available"}),
            k => {
                let mut d = json!({"caseId": id, "fields": {"n": n}});
                if let Some(status) = k.as_str().strip_prefix("case:status:") {
                    d["status"] = json!(status);
                }
                d
            }
        };
        // As a new user publishes: an id, no occurredAt.
        let body = json!({"id": id, "event": kind.as_str(), "data": data});
        actions.push((
            at,
            Action::Publish {
                body: body.clone(),
                account: account.clone(),
            },
        ));
        if rng.chance(shape.republish) {
            let again = at + rng.between(1_000, 3_600_000);
            actions.push((again, Action::Publish { body, account }));
        }
    }
    actions.sort_by_key(|(t, _)| *t);
    Plan { webhooks, actions }
}

/// The webhook as a user's edit leaves it.
pub fn with_status(webhook: &Webhook, status: Status, at_ms: u64) -> Webhook {
    let mut next = webhook.clone();
    next.status = status;
    next.version += 1;
    next.updated_at = EPOCH + Duration::from_millis(at_ms);
    next
}

/// One account, one outbound webhook on `case:new` answering as `behaviour`, and `events`
/// events a minute apart: the shape of the targeted tests.
pub fn scenario(rng: &Rng, behaviour: Behaviour, events: usize) -> Plan {
    let mut webhook = WebhookPatch::from_json(&json!({
        "name": "hook", "flow": "outbound", "url": "https://receiver.example.com/hooks",
        "notificationEmail": "ops@example.com", "events": ["case:new"],
    }))
    .expect("a valid webhook body")
    .create(
        id_of("wh_", rng),
        "acct0".into(),
        EPOCH,
        &WebhookRules::default(),
    )
    .expect("a valid webhook");
    webhook.security = Security::Hmac {
        secret: "whsec_c2ltdWxhdGlvbg==".into(),
        previous: Vec::new(),
    };
    let actions = (0..events)
        .map(|n| {
            let id = format!("evt_sim-{n}");
            let body = json!({"id": id, "event": "case:new", "data": {"caseId": id}});
            (
                60_000 * (n as u64 + 1),
                Action::Publish {
                    body,
                    account: "acct0".into(),
                },
            )
        })
        .collect();
    Plan {
        webhooks: vec![(webhook, behaviour)],
        actions,
    }
}
