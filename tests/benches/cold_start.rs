//! Cold start of each function's release bootstrap: time from process start to the first
//! `GET .../invocation/next` (init) and to the first handled event, a warm event's duration,
//! peak RSS, and the size of each bootstrap, native and zipped as Lambda gets it.
//!
//! Each run spawns a fresh release binary against a minimal Lambda Runtime API emulator on
//! 127.0.0.1, with moto's server standing in for DynamoDB, SQS and SES. It measures; it never
//! fails on a missed target (only on a broken set-up or a wrong answer).
//!
//! ```sh
//! cargo build --release -p webhooks-api -p inbound-resolver -p outbound-delivery
//! .venv/bin/moto_server -H 127.0.0.1 -p 5077 &
//! HOOKLINE_BENCH_AWS_ENDPOINT=http://127.0.0.1:5077 cargo bench -p hookline-tests --bench cold_start
//! ```
//!
//! Environment: `HOOKLINE_BENCH_AWS_ENDPOINT` (required), `HOOKLINE_BENCH_COLD_RUNS` (default
//! 20), `HOOKLINE_BENCH_BIN_DIR` or an argument after `--` (default: the `release` directory
//! this bench was built into, i.e. `target/release`). The functions get only the variables a
//! deployed stack and Lambda set (the bench's own environment is cleared), as on Lambda.

use std::cell::Cell;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookline::store::dynamo::DynamoStore;
use hookline::store::KeyScope;
use hookline_tests::upstream::{Reply, Upstream};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const FUNCTIONS: [&str; 3] = ["webhooks-api", "inbound-resolver", "outbound-delivery"];
const ACCOUNT: &str = "bench";
const SENDER_DOMAIN: &str = "hookline.bench";
const INIT_TARGET_MS: f64 = 20.0;
const RSS_TARGET_MIB: f64 = 32.0;
const ZIP_TARGET_MIB: f64 = 8.0;
/// Longest wait for any one step of a run before it is called broken.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

type Result<T> = std::result::Result<T, String>;

// ------------------------------------------------------------------ Runtime API emulator

/// What a function did on the Runtime API, stamped when it arrived.
#[derive(Debug)]
enum Call {
    /// `GET /2018-06-01/runtime/invocation/next` arrived (it waits for an event).
    Next(Instant),
    /// The answer to a `next` carrying this request id was written.
    Handed(String, Instant),
    /// `POST .../invocation/{id}/response`.
    Response(String, Instant, Vec<u8>),
    /// `POST .../invocation/{id}/error`.
    Error(String, Vec<u8>),
    /// `POST /2018-06-01/runtime/init/error`.
    InitError(Vec<u8>),
}

/// The part of Lambda a function talks to: hands out queued events, records what comes back.
/// One per function process, so nothing from an earlier (killed) process can leak into a run.
struct RuntimeApi {
    addr: SocketAddr,
    events: mpsc::UnboundedSender<(String, Value)>,
    calls: mpsc::UnboundedReceiver<Call>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        // Connections end on their own: the process is killed, and a `next` still waiting
        // sees the event queue closed when `events` drops.
        self.accept.abort();
    }
}

/// What every connection shares: the event queue and where calls are reported.
struct ApiState {
    function_arn: String,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, Value)>>,
    calls: mpsc::UnboundedSender<Call>,
}

impl RuntimeApi {
    async fn start(function: &str) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("bind the Runtime API emulator: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (calls_tx, calls_rx) = mpsc::unbounded_channel();
        let state = Arc::new(ApiState {
            function_arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{function}"),
            events: tokio::sync::Mutex::new(events_rx),
            calls: calls_tx,
        });
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve_runtime_api(stream, state.clone()));
            }
        });
        Ok(Self {
            addr,
            events: events_tx,
            calls: calls_rx,
            accept,
        })
    }

    /// Queues an event for the function's next `next`; returns its request id.
    fn invoke(&self, payload: Value) -> String {
        let id = request_id();
        let _ = self.events.send((id.clone(), payload));
        id
    }

    /// The next call, unless the process exits or nothing comes in time.
    async fn call(&mut self, child: &mut Child) -> Result<Call> {
        tokio::select! {
            // Calls first: an init error posted just before the exit says more than the exit.
            biased;
            call = self.calls.recv() => call.ok_or_else(|| "the emulator stopped".to_string()),
            status = child.wait() => Err(match status {
                Ok(status) => format!("the function exited ({status})"),
                Err(e) => format!("the function is gone: {e}"),
            }),
            _ = tokio::time::sleep(STEP_TIMEOUT) => Err(format!("no Runtime API call in {STEP_TIMEOUT:?}")),
        }
    }

    async fn expect_next(&mut self, child: &mut Child) -> Result<Instant> {
        match self.call(child).await? {
            Call::Next(at) => Ok(at),
            other => Err(unexpected(other)),
        }
    }

    /// Waits for event `id` to be handed out and answered: (handed at, answered at, body).
    async fn expect_answer(
        &mut self,
        child: &mut Child,
        id: &str,
    ) -> Result<(Instant, Instant, Vec<u8>)> {
        let handed = match self.call(child).await? {
            Call::Handed(got, at) if got == id => at,
            other => return Err(unexpected(other)),
        };
        match self.call(child).await? {
            Call::Response(got, at, body) if got == id => Ok((handed, at, body)),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(call: Call) -> String {
    match call {
        Call::Error(id, body) | Call::Response(id, _, body) => format!(
            "unexpected answer for {id}: {}",
            String::from_utf8_lossy(&body)
        ),
        Call::InitError(body) => format!("init error: {}", String::from_utf8_lossy(&body)),
        other => format!("unexpected Runtime API call: {other:?}"),
    }
}

/// Request ids shaped like Lambda's (UUIDs), unique within this bench.
fn request_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// One keep-alive connection from the function's runtime client (hyper, HTTP/1.1).
async fn serve_runtime_api(stream: TcpStream, state: Arc<ApiState>) {
    let mut conn = BufReader::new(stream);
    while let Some((method, path, body)) = read_request(&mut conn).await {
        let at = Instant::now();
        let tail = path.strip_prefix("/2018-06-01/runtime/").unwrap_or("");
        let segments: Vec<&str> = tail.split('/').collect();
        let reply = match (method.as_str(), segments.as_slice()) {
            ("GET", ["invocation", "next"]) => {
                let _ = state.calls.send(Call::Next(at));
                // Waits, as Lambda does, until there is an event; none left means the run is
                // over and the connection is dropped.
                let Some((id, payload)) = state.events.lock().await.recv().await else {
                    return;
                };
                let head = next_event_head(&id, &state.function_arn);
                let written = write_response(&mut conn, 200, &head, &payload.to_string()).await;
                let _ = state.calls.send(Call::Handed(id, Instant::now()));
                written
            }
            ("POST", ["invocation", id, "response"]) => {
                let _ = state.calls.send(Call::Response(id.to_string(), at, body));
                accepted(&mut conn).await
            }
            ("POST", ["invocation", id, "error"]) => {
                let _ = state.calls.send(Call::Error(id.to_string(), body));
                accepted(&mut conn).await
            }
            ("POST", ["init", "error"]) => {
                let _ = state.calls.send(Call::InitError(body));
                accepted(&mut conn).await
            }
            _ => write_response(&mut conn, 404, &[], "{}").await,
        };
        if reply.is_err() {
            return;
        }
    }
}

/// The function timeout infra/template.yaml sets for `function` (seconds).
fn template_timeout_s(function_arn: &str) -> u64 {
    match function_arn.rsplit(':').next().unwrap_or_default() {
        "webhooks-api" => 29,
        "inbound-resolver" => 15,
        // The fan-out starts nothing within 55 s of the deadline (`FAN_OUT_MARGIN`): a
        // shorter deadline than the template's would leave it no time at all.
        _ => 120,
    }
}

/// The headers Lambda sends with an event (lambda_runtime requires the request id and the
/// deadline, and reads the ARN and trace id): the deadline is the template's timeout from now.
fn next_event_head(id: &str, function_arn: &str) -> Vec<(&'static str, String)> {
    let deadline_ms = epoch_ms() + template_timeout_s(function_arn) * 1000;
    vec![
        ("Lambda-Runtime-Aws-Request-Id", id.to_string()),
        ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
        (
            "Lambda-Runtime-Invoked-Function-Arn",
            function_arn.to_string(),
        ),
        (
            "Lambda-Runtime-Trace-Id",
            format!(
                "Root=1-{:08x}-{}{};Parent=9a9197af755a6419;Sampled=0",
                epoch_ms() / 1000,
                "0".repeat(12),
                &id[id.len() - 12..]
            ),
        ),
    ]
}

async fn accepted(conn: &mut BufReader<TcpStream>) -> std::io::Result<()> {
    write_response(conn, 202, &[], r#"{"status":"OK"}"#).await
}

async fn write_response(
    conn: &mut BufReader<TcpStream>,
    status: u16,
    headers: &[(&str, String)],
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        _ => "Not Found",
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    conn.get_mut().write_all(out.as_bytes()).await
}

/// Method, path and body of the next request on the connection; `None` when it closes.
/// Bodies come with a content-length or chunked (hyper uses either, depending on the body).
async fn read_request<R: AsyncRead + Unpin>(
    conn: &mut BufReader<R>,
) -> Option<(String, String, Vec<u8>)> {
    let request_line = read_line(conn).await?;
    let mut parts = request_line.split(' ');
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let line = read_line(conn).await?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(conn).await?
    } else {
        let mut body = vec![0; length];
        conn.read_exact(&mut body).await.ok()?;
        body
    };
    Some((method, path, body))
}

async fn read_chunked<R: AsyncRead + Unpin>(conn: &mut BufReader<R>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let size_line = read_line(conn).await?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            // Trailers (lambda_runtime sends error trailers on streamed answers), then a blank.
            while !read_line(conn).await?.is_empty() {}
            return Some(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..]).await.ok()?;
        read_line(conn).await?;
    }
}

/// One CRLF-terminated line without its ending; `None` at end of stream.
async fn read_line<R: AsyncRead + Unpin>(conn: &mut BufReader<R>) -> Option<String> {
    let mut line = String::new();
    match conn.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_string()),
    }
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

// ------------------------------------------------------------------ the local stack

/// What a deployed stack has before any function starts, created in moto for this bench.
struct Stack {
    endpoint: String,
    table: String,
    events_queue_url: String,
    deliveries_queue_url: String,
    slow_deliveries_queue_url: String,
    store: DynamoStore,
    api_key: String,
}

/// The local KMS key the functions seal credentials with.
const BENCH_KMS_ALIAS: &str = "alias/hookline-bench";

impl Stack {
    /// A table and queues of this bench run's own (so a reused moto holds no stale state),
    /// a verified SES domain and an API key: what `hookline-admin init-local` and
    /// `keys create` set up for `make run`.
    async fn create(endpoint: &str) -> Result<Self> {
        let sdk = hookline_tests::sdk_config_at(endpoint).await;
        let suffix = hookline::ids::ulid(time::OffsetDateTime::now_utc()).to_lowercase();
        let table = format!("hookline-bench-{suffix}");
        let store = DynamoStore::from_sdk_config(&sdk, &table);
        store
            .create_table()
            .await
            .map_err(|e| format!("create the table in moto at {endpoint}: {e}"))?;
        hookline::local::kms_key_for_alias(&aws_sdk_kms::Client::new(&sdk), BENCH_KMS_ALIAS)
            .await
            .map_err(|e| format!("the KMS key in moto at {endpoint}: {e}"))?;
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let mut queues = Vec::new();
        for name in ["events", "deliveries", "slow-deliveries"] {
            let name = format!("hookline-bench-{name}-{suffix}");
            let url = hookline::local::create_queue_with_dlq(&sqs, &name, 5)
                .await
                .map_err(|e| e.to_string())?;
            queues.push(url);
        }
        verify_ses_domain(&aws_sdk_sesv2::Client::new(&sdk)).await?;
        let now = time::OffsetDateTime::now_utc();
        let (api_key, _) =
            hookline::apikeys::issue(&store, ACCOUNT, "cold start bench", KeyScope::Full, now)
                .await
                .map_err(|e| format!("issue an API key: {e}"))?;
        let slow_deliveries_queue_url = queues.pop().unwrap_or_default();
        let deliveries_queue_url = queues.pop().unwrap_or_default();
        let events_queue_url = queues.pop().unwrap_or_default();
        Ok(Self {
            endpoint: endpoint.to_string(),
            table,
            events_queue_url,
            deliveries_queue_url,
            slow_deliveries_queue_url,
            store,
            api_key,
        })
    }

    /// The environment a deployed stack gives `function` (infra/template.yaml), plus what
    /// Lambda itself sets, pointed at moto and at the emulator on `runtime_api`.
    fn function_env(&self, function: &str, runtime_api: SocketAddr) -> Vec<(&'static str, String)> {
        let mut env = vec![
            // Lambda's own variables (provided.al2023).
            ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", function.to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function}"),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                "2026/11/25/[$LATEST]bench".to_string(),
            ),
            (
                "AWS_EXECUTION_ENV",
                "AWS_Lambda_provided.al2023".to_string(),
            ),
            ("_HANDLER", "bootstrap".to_string()),
            ("LANG", "en_US.UTF-8".to_string()),
            ("TZ", ":UTC".to_string()),
            ("PATH", "/usr/local/bin:/usr/bin/:/bin".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            // The local stack.
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            // Every function (the template's Globals).
            ("HOOKLINE_TABLE_NAME", self.table.clone()),
            ("HOOKLINE_LOG_LEVEL", "info".to_string()),
            ("HOOKLINE_EGRESS_ALLOW_CIDRS", "127.0.0.1/32".to_string()),
            // The credentials key (moto's KMS), as the template passes `CredentialsKey`.
            ("HOOKLINE_KMS_KEY_ID", BENCH_KMS_ALIAS.to_string()),
        ];
        let sender = format!("notifications@{SENDER_DOMAIN}");
        let own: Vec<(&'static str, String)> = match function {
            "webhooks-api" => vec![
                ("HOOKLINE_ALLOW_PLAIN_HTTP", "true".into()),
                ("HOOKLINE_RESOLVE_DEADLINE_MS", "8000".into()),
                ("HOOKLINE_MAX_WEBHOOKS_PER_ACCOUNT", "100".into()),
                ("HOOKLINE_EVENTS_QUEUE_URL", self.events_queue_url.clone()),
                (
                    "HOOKLINE_DELIVERIES_QUEUE_URL",
                    self.deliveries_queue_url.clone(),
                ),
                (
                    "HOOKLINE_SLOW_DELIVERIES_QUEUE_URL",
                    self.slow_deliveries_queue_url.clone(),
                ),
            ],
            "inbound-resolver" => vec![
                ("HOOKLINE_ALLOW_PLAIN_HTTP", "true".into()),
                ("HOOKLINE_RESOLVE_DEADLINE_MS", "8000".into()),
                ("HOOKLINE_SENDER_EMAIL", sender),
            ],
            _ => vec![
                (
                    "HOOKLINE_DELIVERIES_QUEUE_URL",
                    self.deliveries_queue_url.clone(),
                ),
                (
                    "HOOKLINE_SLOW_DELIVERIES_QUEUE_URL",
                    self.slow_deliveries_queue_url.clone(),
                ),
                ("HOOKLINE_SENDER_EMAIL", sender),
                (
                    "HOOKLINE_RETRY_SCHEDULE",
                    "5s,5m,30m,2h,5h,10h,14h,20h,24h".into(),
                ),
            ],
        };
        env.extend(own);
        env
    }
}

async fn verify_ses_domain(ses: &aws_sdk_sesv2::Client) -> Result<()> {
    match ses
        .create_email_identity()
        .email_identity(SENDER_DOMAIN)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(format!(
            "verify {SENDER_DOMAIN} in SES: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(e)
        )),
    }
}

// ------------------------------------------------------------------ what each function gets

/// One function's event and what a correct answer to it looks like.
enum Scenario {
    /// `GET /api/v1/webhook` with the API key: a 200 list.
    Api { key: String },
    /// A resolve of an inbound webhook whose URL answers JSON at once: source `webhook`.
    Resolve {
        key: String,
        webhook_id: String,
        _upstream: Upstream,
    },
    /// The two steps of a delivery, in turn: a `case:new` event from the events queue for an
    /// account with one outbound webhook (fanned out: one delivery message queued, no
    /// failures), then that delivery message from the deliveries queue (sent to the receiver).
    Deliver {
        receiver: Upstream,
        sqs: aws_sdk_sqs::Client,
        deliveries_queue_url: String,
        /// Events handed out so far: even ones are fan-outs, odd ones deliveries.
        step: Cell<usize>,
    },
}

impl Scenario {
    async fn for_function(function: &str, stack: &Stack) -> Result<Self> {
        let key = stack.api_key.clone();
        Ok(match function {
            "webhooks-api" => Scenario::Api { key },
            "inbound-resolver" => {
                let upstream = Upstream::start(vec![Reply::json(
                    r#"{"order": {"status": "shipped", "items": [{"sku": "A1"}]}}"#,
                )])
                .await;
                let body = hookline_tests::inbound_body(&format!("{}/orders", upstream.url));
                // Despite its name, the helper saves any valid webhook body, inbound too.
                let webhook =
                    hookline_tests::add_outbound_webhook(&stack.store, ACCOUNT, &body).await;
                Scenario::Resolve {
                    key,
                    webhook_id: webhook.id,
                    _upstream: upstream,
                }
            }
            _ => {
                let receiver = Upstream::start(vec![Reply::status(200, "")]).await;
                let body = hookline_tests::outbound_body(&format!("{}/hooks", receiver.url));
                hookline_tests::add_outbound_webhook(&stack.store, ACCOUNT, &body).await;
                Scenario::Deliver {
                    receiver,
                    sqs: aws_sdk_sqs::Client::new(
                        &hookline_tests::sdk_config_at(&stack.endpoint).await,
                    ),
                    deliveries_queue_url: stack.deliveries_queue_url.clone(),
                    step: Cell::new(0),
                }
            }
        })
    }

    /// A fresh event (new ids each time, so no delivery is skipped as already sent).
    async fn event(&self) -> Value {
        match self {
            Scenario::Api { key } => api_gateway_event("GET", "/api/v1/webhook", key, None),
            Scenario::Resolve {
                key, webhook_id, ..
            } => api_gateway_event(
                "POST",
                &format!("/api/v1/webhook/{webhook_id}/resolve"),
                key,
                Some(json!({"variables": {"visitor.email": "ada@example.com"}})),
            ),
            Scenario::Deliver {
                step,
                sqs,
                deliveries_queue_url,
                ..
            } => {
                step.set(step.get() + 1);
                if step.get() % 2 == 1 {
                    let now = time::OffsetDateTime::now_utc();
                    let published = json!({"event": "case:new", "data": {"caseId": "72"}});
                    let event = hookline::events::Event::from_publish(&published, ACCOUNT, now)
                        .expect("a valid event");
                    let body = serde_json::to_string(&event).expect("events serialise");
                    let batch = hookline_tests::sqs_batch(&[(&request_id(), body)]);
                    return serde_json::to_value(batch).expect("SQS events serialise");
                }
                // The delivery message the fan-out just queued, as Lambda hands it over.
                let received = sqs
                    .receive_message()
                    .queue_url(deliveries_queue_url)
                    .max_number_of_messages(1)
                    .wait_time_seconds(5)
                    .visibility_timeout(3600)
                    .message_system_attribute_names(
                        aws_sdk_sqs::types::MessageSystemAttributeName::All,
                    )
                    .send()
                    .await
                    .expect("receive from the deliveries queue");
                let message = received
                    .messages()
                    .first()
                    .expect("the fan-out queued a delivery message");
                let mut batch = hookline_tests::sqs_batch_from(
                    deliveries_queue_url,
                    &[(
                        &request_id(),
                        message.body().unwrap_or_default().to_string(),
                    )],
                );
                let record = &mut batch.records[0];
                record.receipt_handle = message.receipt_handle().map(str::to_string);
                for (name, value) in message.attributes().into_iter().flatten() {
                    record
                        .attributes
                        .insert(name.as_str().to_string(), value.clone());
                }
                sqs.delete_message()
                    .queue_url(deliveries_queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete the handed-out message");
                serde_json::to_value(batch).expect("SQS events serialise")
            }
        }
    }

    fn check(&self, answer: &[u8]) -> Result<()> {
        let answer: Value = serde_json::from_slice(answer).map_err(|e| {
            format!(
                "answer is not JSON ({e}): {}",
                String::from_utf8_lossy(answer)
            )
        })?;
        let ok = match self {
            Scenario::Api { .. } => answer["statusCode"] == 200,
            Scenario::Resolve { .. } => {
                let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or("null"))
                    .unwrap_or_default();
                answer["statusCode"] == 200 && body["source"] == "webhook"
            }
            Scenario::Deliver { receiver, step, .. } => {
                // After a delivery step, one POST per delivery step so far.
                answer["batchItemFailures"] == json!([]) && receiver.calls() >= step.get() / 2
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("wrong answer: {answer}"))
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) event, as in tests/support/lib.rs.
fn api_gateway_event(method: &str, path: &str, key: &str, body: Option<Value>) -> Value {
    let mut headers = json!({"host": "api.example.com", "authorization": format!("Bearer {key}")});
    if body.is_some() {
        headers["content-type"] = json!("application/json");
    }
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "hookline-bench"},
            "requestId": request_id(), "routeKey": "$default", "stage": "$default",
            "time": "25/Nov/2026:12:00:00 +0000", "timeEpoch": epoch_ms()
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    })
}

// ------------------------------------------------------------------ one cold run

struct Sample {
    /// Spawn to the first `next`: Lambda's "Init Duration".
    init: Duration,
    /// Spawn to the first answer.
    first_event: Duration,
    /// The first event alone, from handing it out to its answer.
    first_invoke: Duration,
    /// The second (warm) event, from handing it out to its answer.
    warm_invoke: Duration,
    /// VmHWM once the second event is answered.
    peak_rss_kib: u64,
}

/// A fresh process of `binary`: one cold event, one warm event, then its peak RSS.
async fn cold_run(
    binary: &Path,
    function: &str,
    stack: &Stack,
    scenario: &Scenario,
) -> Result<Sample> {
    let mut api = RuntimeApi::start(function).await?;
    // The event is waiting before the process starts, as when Lambda cold-starts for it.
    let first = api.invoke(scenario.event().await);
    let spawned = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(stack.function_env(function, api.addr))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("start {}: {e}", binary.display()))?;
    let output = drain_output(&mut child);
    let measured = measure(&mut api, &mut child, spawned, &first, scenario).await;
    let _ = child.start_kill();
    let _ = child.wait().await;
    measured.map_err(|why| {
        let log = output.lock().map(|o| o.clone()).unwrap_or_default();
        let tail = &log[log.len().saturating_sub(4000)..];
        format!(
            "{function}: {why}\n--- its output ---\n{}",
            String::from_utf8_lossy(tail)
        )
    })
}

async fn measure(
    api: &mut RuntimeApi,
    child: &mut Child,
    spawned: Instant,
    first: &str,
    scenario: &Scenario,
) -> Result<Sample> {
    let init = api.expect_next(child).await? - spawned;
    let (handed, answered, body) = api.expect_answer(child, first).await?;
    scenario.check(&body)?;
    let (first_event, first_invoke) = (answered - spawned, answered - handed);

    let second = api.invoke(scenario.event().await);
    api.expect_next(child).await?;
    let (handed, answered, body) = api.expect_answer(child, &second).await?;
    scenario.check(&body)?;

    // The third `next` means the function is idle again: its peak is final.
    api.expect_next(child).await?;
    let pid = child.id().ok_or("the function exited")?;
    Ok(Sample {
        init,
        first_event,
        first_invoke,
        warm_invoke: answered - handed,
        peak_rss_kib: peak_rss_kib(pid)?,
    })
}

/// Collects the function's stdout and stderr (JSON logs), shown only when a run fails. Read
/// continuously so a full pipe can never stall the function.
fn drain_output(child: &mut Child) -> Arc<Mutex<Vec<u8>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    if let Some(out) = child.stdout.take() {
        tokio::spawn(collect(out, log.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(collect(err, log.clone()));
    }
    log
}

async fn collect(mut reader: impl AsyncRead + Unpin, log: Arc<Mutex<Vec<u8>>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        if let Ok(mut log) = log.lock() {
            log.extend_from_slice(&buf[..n]);
        }
    }
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmHWM in /proc/PID/status".to_string())
}

// ------------------------------------------------------------------ sizes

struct Sizes {
    native: u64,
    /// `None` when python3 is not there to zip it.
    zipped: Option<u64>,
}

/// The binary as built, and zipped as `bootstrap` the way Lambda is given it (deflate, level 9).
fn bootstrap_sizes(binary: &Path, scratch: &Path) -> Result<Sizes> {
    let native = std::fs::metadata(binary)
        .map_err(|e| format!("{}: {e}", binary.display()))?
        .len();
    let zip = scratch.join(format!(
        "{}.zip",
        binary.file_name().unwrap_or_default().to_string_lossy()
    ));
    // python3's zipfile: no zip crate (and its dependencies) just to measure.
    const SCRIPT: &str = "import sys, zipfile
with zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    z.write(sys.argv[1], 'bootstrap')";
    let zipped = std::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(binary)
        .arg(&zip)
        .status()
        .ok()
        .filter(|s| s.success())
        .and_then(|_| std::fs::metadata(&zip).ok())
        .map(|m| m.len());
    Ok(Sizes { native, zipped })
}

// ------------------------------------------------------------------ the report

/// min, p50, p90, max (nearest rank).
fn summary(mut values: Vec<f64>) -> [f64; 4] {
    values.sort_by(f64::total_cmp);
    let rank =
        |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    [values[0], rank(0.5), rank(0.9), values[values.len() - 1]]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn verdict(pass: bool) -> &'static str {
    if pass {
        "pass"
    } else {
        "**miss**"
    }
}

/// One function's rows of the summary table.
fn rows(function: &str, samples: &[Sample], sizes: &Sizes) -> Vec<String> {
    let row = |measure: &str, cells: [String; 4], target: String, result: &str| {
        let [min, p50, p90, max] = cells;
        format!("| {function} | {measure} | {min} | {p50} | {p90} | {max} | {target} | {result} |")
    };
    let spread = |values: [f64; 4], unit: &str| values.map(|v| format!("{v:.1} {unit}"));
    // A size is one number: shown under p50.
    let single = |text: String| [String::new(), text, String::new(), String::new()];
    let times = |of: fn(&Sample) -> Duration| summary(samples.iter().map(|s| ms(of(s))).collect());
    let none = String::new;

    let init = times(|s| s.init);
    let rss = summary(
        samples
            .iter()
            .map(|s| s.peak_rss_kib as f64 / 1024.0)
            .collect(),
    );
    let zip_target = format!("< {ZIP_TARGET_MIB} MiB");
    vec![
        row(
            "init (spawn → first `next`)",
            spread(init, "ms"),
            format!("< {INIT_TARGET_MS} ms (p50)"),
            verdict(init[1] < INIT_TARGET_MS),
        ),
        row(
            "first event (spawn → answer)",
            spread(times(|s| s.first_event), "ms"),
            none(),
            "",
        ),
        row(
            "first event alone (handed out → answer)",
            spread(times(|s| s.first_invoke), "ms"),
            none(),
            "",
        ),
        row(
            "warm event (handed out → answer)",
            spread(times(|s| s.warm_invoke), "ms"),
            none(),
            "",
        ),
        row(
            "peak RSS (VmHWM)",
            spread(rss, "MiB"),
            format!("< {RSS_TARGET_MIB} MiB (max)"),
            verdict(rss[3] < RSS_TARGET_MIB),
        ),
        row(
            "bootstrap as built",
            single(format!("{:.2} MiB", mib(sizes.native))),
            none(),
            "",
        ),
        match sizes.zipped {
            Some(z) => row(
                "bootstrap zipped (deflate 9)",
                single(format!("{:.2} MiB", mib(z))),
                zip_target,
                verdict(mib(z) < ZIP_TARGET_MIB),
            ),
            None => row(
                "bootstrap zipped",
                single("python3 not found".into()),
                zip_target,
                "",
            ),
        },
    ]
}

fn header(runs: usize, endpoint: &str, bin_dir: &Path) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "## Cold start: release bootstraps\n\n\
         Measured as native {arch} processes on this machine ({cpu}, {cores} cores), **not** in \
         Lambda's Firecracker microVM (the stack deploys arm64 with 128 MB): each run is a fresh \
         process of `{bins}/<function>` against a Runtime API emulator on 127.0.0.1, with moto \
         ({endpoint}) as DynamoDB, SQS and SES, and receivers on 127.0.0.1. {runs} runs per \
         function; min / p50 / p90 / max (nearest rank). Init is judged on p50, RSS on max. \
         MiB = 2^20 bytes.\n",
        arch = std::env::consts::ARCH,
        bins = bin_dir.display(),
    )
}

// ------------------------------------------------------------------ main

/// `HOOKLINE_BENCH_BIN_DIR`, else the first argument that is not a flag (`cargo bench` adds
/// `--bench`), else the profile directory this bench was built into (`target/release`).
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("HOOKLINE_BENCH_BIN_DIR") {
        return dir.into();
    }
    if let Some(arg) = std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        return arg.into();
    }
    // This binary is target/release/deps/cold_start-HASH; cargo runs benches from tests/, so
    // a relative default would miss.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

async fn run() -> Result<()> {
    let endpoint = std::env::var("HOOKLINE_BENCH_AWS_ENDPOINT").map_err(|_| {
        "set HOOKLINE_BENCH_AWS_ENDPOINT to a moto server, e.g. start \
         `.venv/bin/moto_server -H 127.0.0.1 -p 5077` and set http://127.0.0.1:5077"
            .to_string()
    })?;
    let runs: usize = match std::env::var("HOOKLINE_BENCH_COLD_RUNS") {
        Ok(v) => v
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or("HOOKLINE_BENCH_COLD_RUNS must be a positive number")?,
        Err(_) => 20,
    };
    let bin_dir = bin_dir();
    let binaries: Vec<PathBuf> = FUNCTIONS.iter().map(|f| bin_dir.join(f)).collect();
    if let Some(missing) = binaries.iter().find(|b| !b.is_file()) {
        return Err(format!(
            "{} is missing: run `cargo build --release -p webhooks-api -p inbound-resolver \
             -p outbound-delivery` first (or set HOOKLINE_BENCH_BIN_DIR)",
            missing.display()
        ));
    }

    let scratch = std::env::temp_dir().join(format!("hookline-cold-start-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| e.to_string())?;
    let sizes: Vec<Sizes> = binaries
        .iter()
        .map(|b| bootstrap_sizes(b, &scratch))
        .collect::<Result<_>>()?;
    let _ = std::fs::remove_dir_all(&scratch);

    let stack = Stack::create(&endpoint).await?;
    let mut table = vec![
        "| function | measure | min | p50 | p90 | max | target | result |".to_string(),
        "|---|---|---|---|---|---|---|---|".to_string(),
    ];
    for ((function, binary), sizes) in FUNCTIONS.iter().zip(&binaries).zip(&sizes) {
        let scenario = Scenario::for_function(function, &stack).await?;
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            samples.push(cold_run(binary, function, &stack, &scenario).await?);
        }
        eprintln!("{function}: {runs} cold runs done");
        table.extend(rows(function, &samples, sizes));
    }
    println!(
        "{}\n{}",
        header(runs, &endpoint, &bin_dir),
        table.join("\n")
    );
    Ok(())
}

// One thread: the bench's own work (emulator, receivers) stays off the function's core as far
// as it can on a small machine.
#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; without it this is `cargo test --all-targets`, which
    // must not need release builds and a moto server.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("cold_start: measured by `cargo bench -p hookline-tests --bench cold_start`");
        return std::process::ExitCode::SUCCESS;
    }
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("cold_start: {why}");
            std::process::ExitCode::FAILURE
        }
    }
}
