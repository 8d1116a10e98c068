//! The customers' receivers, one behaviour per webhook URL: latency, answers (2xx, 4xx, 5xx,
//! 410, 429 with `Retry-After`), hangs past the webhook's timeout, resets, huge answers, and
//! outages of days. Every request is kept for the invariants.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline::http::{HttpClient, HttpError, HttpRequest, HttpResponse};

use crate::crash_point;
use crate::world::World;

#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Answer latency, log-uniform in this range (ms).
    pub latency_ms: (f64, f64),
    /// Chance of an error answer (a 4xx or 5xx).
    pub error: f64,
    /// Chance of hanging past the timeout.
    pub hang: f64,
    /// Chance of a connection reset.
    pub reset: f64,
    /// Error answers carry bodies as large as the reader takes, of any bytes.
    pub huge_errors: bool,
    /// Errors are 429 with a `Retry-After` of up to this many seconds.
    pub rate_limited: Option<u64>,
    /// Refuses connections in these windows (ms).
    pub down: Vec<(u64, u64)>,
    /// Answers 410 Gone from this time on.
    pub gone_from: Option<u64>,
    /// Scripted answers, in order, before any of the above applies (`None`: no answer until
    /// the timeout).
    pub script: Vec<Option<u16>>,
    /// `hang` applies to requests before this time only (ms); always when `None`.
    pub hang_until: Option<u64>,
}

impl Behaviour {
    pub fn healthy() -> Self {
        Self {
            latency_ms: (5.0, 400.0),
            error: 0.0,
            hang: 0.0,
            reset: 0.0,
            huge_errors: false,
            rate_limited: None,
            down: Vec::new(),
            gone_from: None,
            script: Vec::new(),
            hang_until: None,
        }
    }

    /// Answers `script` in order, then 200 to everything.
    pub fn scripted(script: &[Option<u16>]) -> Self {
        Self {
            script: script.to_vec(),
            latency_ms: (50.0, 50.0),
            ..Self::healthy()
        }
    }
}

/// One request as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: u64,
    pub webhook_id_header: String,
    pub event_id: String,
    pub status: Option<u16>,
}

#[derive(Clone)]
pub struct Receivers {
    world: World,
    behaviours: Arc<Mutex<HashMap<String, Behaviour>>>,
    /// By URL.
    pub seen: Arc<Mutex<std::collections::BTreeMap<String, Vec<Seen>>>>,
    /// Requests each URL received, for scripted answers.
    calls: Arc<Mutex<HashMap<String, usize>>>,
}

impl Receivers {
    pub fn new(world: World) -> Self {
        Self {
            world,
            behaviours: Arc::default(),
            seen: Arc::default(),
            calls: Arc::default(),
        }
    }

    pub fn add(&self, url: &str, behaviour: Behaviour) {
        self.behaviours
            .lock()
            .unwrap()
            .insert(url.to_string(), behaviour);
    }

    /// An answer longer than `cap`: control bytes, quotes, invalid UTF-8 and letters, what
    /// grows most through lossy decoding and JSON escaping.
    fn huge_body(cap: usize) -> Vec<u8> {
        [0x01, b'"', 0xff, b'a']
            .into_iter()
            .cycle()
            .take(cap + 1024)
            .collect()
    }
}

fn header<'a>(request: &'a HttpRequest, name: &str) -> &'a str {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .unwrap_or_default()
}

/// The sim's event ids (`evt_sim-N`, in `data.caseId` or `data.agentId`), found in a body of
/// any of the three formats.
fn event_id(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let Some(start) = text.find("evt_sim-") else {
        return "?".into();
    };
    let digits = text[start + 8..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>();
    format!("evt_sim-{digits}")
}

impl HttpClient for Receivers {
    async fn send(&self, request: HttpRequest, max_body: usize) -> Result<HttpResponse, HttpError> {
        let w = &self.world;
        crash_point!(w, "crash.before.http", w.faults.crash_before_call);
        let behaviour = self
            .behaviours
            .lock()
            .unwrap()
            .get(&request.url)
            .cloned()
            .unwrap_or_else(Behaviour::healthy);
        let now = w.now_ms();
        let delivery = header(&request, "webhook-id").to_string();
        let timeout = request.timeout.as_millis() as u64;
        let latency =
            w.rng
                .log_between(behaviour.latency_ms.0, behaviour.latency_ms.1) as u64;
        let roll = w.rng.unit();
        let call = {
            let mut calls = self.calls.lock().unwrap();
            let n = calls.entry(request.url.clone()).or_default();
            *n += 1;
            *n - 1
        };
        let scripted = behaviour.script.get(call).copied();
        enum Outcome {
            Refused,
            Reset,
            Hang,
            Answer(u16),
        }
        let outcome = if let Some(answer) = scripted {
            answer.map_or(Outcome::Hang, Outcome::Answer)
        } else if behaviour.down.iter().any(|(a, b)| (*a..*b).contains(&now)) {
            Outcome::Refused
        } else if behaviour.gone_from.is_some_and(|t| now >= t) {
            Outcome::Answer(410)
        } else if (roll < behaviour.hang && behaviour.hang_until.is_none_or(|t| now < t))
            || latency >= timeout
        {
            Outcome::Hang
        } else if roll < behaviour.hang + behaviour.reset {
            Outcome::Reset
        } else if roll < behaviour.hang + behaviour.reset + behaviour.error {
            if behaviour.rate_limited.is_some() {
                Outcome::Answer(429)
            } else {
                Outcome::Answer(*w.rng.pick(&[500, 502, 503, 504, 400, 404, 422]))
            }
        } else {
            Outcome::Answer(*w.rng.pick(&[200, 200, 200, 201, 202, 204]))
        };
        let status = match outcome {
            Outcome::Answer(code) => Some(code),
            _ => None,
        };
        if !matches!(outcome, Outcome::Refused) {
            self.seen
                .lock()
                .unwrap()
                .entry(request.url.clone())
                .or_default()
                .push(Seen {
                    at: now,
                    webhook_id_header: delivery.clone(),
                    event_id: event_id(&request.body),
                    status,
                });
        }
        if status.is_some_and(|s| (200..300).contains(&s)) {
            w.acked(&delivery);
        }
        w.trace(|| format!("HTTP {} {delivery} -> {status:?}", request.url));
        let result = match outcome {
            Outcome::Refused => {
                w.scheduler.sleep(Duration::from_millis(1)).await;
                Err(HttpError::Connect("connection refused".into()))
            }
            Outcome::Reset => {
                w.scheduler.sleep(Duration::from_millis(latency / 2)).await;
                Err(HttpError::Connect("connection reset by peer".into()))
            }
            Outcome::Hang => {
                w.scheduler.sleep(request.timeout).await;
                Err(HttpError::Timeout)
            }
            Outcome::Answer(code) => {
                w.scheduler.sleep(Duration::from_millis(latency)).await;
                let mut headers = http::HeaderMap::new();
                if let (429, Some(max)) = (code, behaviour.rate_limited) {
                    let secs = w.rng.between(0, max);
                    headers.insert("retry-after", secs.to_string().parse().expect("digits"));
                }
                let mut body = if code >= 300 && behaviour.huge_errors {
                    Self::huge_body(max_body)
                } else {
                    b"ok".to_vec()
                };
                let truncated = body.len() > max_body;
                body.truncate(max_body);
                Ok(HttpResponse {
                    status: code,
                    headers,
                    body,
                    truncated,
                })
            }
        };
        crash_point!(w, "crash.after.http", w.faults.crash_after_call);
        result
    }
}
