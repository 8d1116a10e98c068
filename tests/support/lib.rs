//! Test harness: the local AWS stack (moto's server, started by `make test`) through the real
//! SDK clients, and API Gateway HTTP API (v2) events fed to the real handler.

pub mod browser;
pub mod gateway;
pub mod link;
pub mod moto;
pub mod stack;
pub mod upstream;

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, Region};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hookline::clock::{Clock, SystemClock};
use hookline::http::ReqwestClient;
use hookline::inbound::ResolverSettings;
use hookline::model::WebhookRules;
use hookline::outbound::DeliverySettings;
use hookline::queue::{MemoryDeliveryQueue, MemoryEventQueue, SqsDeliveryQueue, SqsEventQueue};
use hookline::store::dynamo::DynamoStore;
use hookline::store::memory::MemoryStore;
use hookline::store::KeyScope;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, COOKIE, HOST, USER_AGENT};
use http::HeaderMap;
use serde_json::{json, Value};
use webhooks_api::{App, Parts, Platform};

/// The local AWS endpoint. Integration tests fail (not skip) without it.
pub fn endpoint() -> String {
    std::env::var("HOOKLINE_TEST_AWS_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "integration tests need the local AWS stack: run `make test`, or start moto_server \
             and set HOOKLINE_TEST_AWS_ENDPOINT=http://127.0.0.1:PORT"
        )
    })
}

pub async fn sdk_config() -> SdkConfig {
    sdk_config_at(&endpoint()).await
}

/// The SDK as a deployed function sets it up (with its timeouts), pointed at `endpoint`.
pub async fn function_sdk_config(endpoint: &str) -> SdkConfig {
    sdk_config_at(endpoint)
        .await
        .into_builder()
        .timeout_config(hookline::config::sdk_timeouts())
        .build()
}

/// The SDK as the tests use it (no timeouts), pointed at `endpoint`.
pub async fn sdk_config_at(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "hookline-tests",
        ))
        .load()
        .await
}

/// The local KMS key (moto's) test stores seal webhook credentials with, as a deployed stack's
/// functions do with the template's key.
pub const TEST_KMS_ALIAS: &str = "alias/hookline-tests";

/// A sealer as one function container has it: its own data key and cache, the key in moto.
pub async fn sealer() -> std::sync::Arc<hookline::sealing::Sealer> {
    let kms = aws_sdk_kms::Client::new(&sdk_config().await);
    hookline::local::kms_key_for_alias(&kms, TEST_KMS_ALIAS)
        .await
        .expect("the local KMS key");
    let keys = hookline::sealing::KmsKeys::new(kms, TEST_KMS_ALIAS);
    std::sync::Arc::new(hookline::sealing::Sealer::new(keys))
}

/// A store on a table of its own, so tests run in parallel without seeing each other.
pub async fn fresh_store() -> DynamoStore {
    let store = DynamoStore::from_sdk_config(&sdk_config().await, fresh_table_name())
        .with_sealer(sealer().await);
    store
        .create_table()
        .await
        .expect("create the test table in the local stack");
    store
}

/// A table name no other test uses.
pub fn fresh_table_name() -> String {
    format!(
        "hookline-test-{}",
        hookline::ids::ulid(time::OffsetDateTime::now_utc()).to_lowercase()
    )
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    /// The `field` of an error body.
    pub fn error_field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }

    pub fn error_type(&self) -> &str {
        self.body["error"]["type"].as_str().unwrap_or_default()
    }
}

/// The local stack: DynamoDB and SQS in moto, the real network.
pub struct LocalAws;

impl Platform for LocalAws {
    type Store = DynamoStore;
    type Http = ReqwestClient;
    type Events = SqsEventQueue;
    type Deliveries = SqsDeliveryQueue;
}

/// Storage and queues in memory, the real network.
pub struct InMemory;

impl Platform for InMemory {
    type Store = MemoryStore;
    type Http = ReqwestClient;
    type Events = MemoryEventQueue;
    type Deliveries = MemoryDeliveryQueue;
}

pub struct TestApi<P: Platform = LocalAws> {
    pub app: App<P>,
    /// The queues in the local stack, for tests that read them back.
    pub events_queue_url: Option<String>,
    pub deliveries_queue_url: Option<String>,
    /// The slow lane's deliveries queue (retries, failing receivers, recovers).
    pub slow_deliveries_queue_url: Option<String>,
}

fn parts<P: Platform>(
    store: P::Store,
    events: P::Events,
    deliveries: P::Deliveries,
    http: P::Http,
    clock: Arc<dyn Clock>,
) -> Parts<P> {
    Parts {
        store,
        events,
        deliveries,
        http,
        clock,
        rules: WebhookRules {
            allow_plain_http: true,
            egress: local_egress(),
            ..Default::default()
        },
        resolver: ResolverSettings::default(),
        delivery: DeliverySettings::default(),
    }
}

impl TestApi<LocalAws> {
    /// The API over a fresh DynamoDB table and fresh queues in the local stack; plain-http URLs
    /// allowed as in local runs.
    pub async fn new() -> Self {
        Self::local(fresh_store().await, Arc::new(SystemClock)).await
    }

    pub async fn local(store: DynamoStore, clock: Arc<dyn Clock>) -> Self {
        let (sqs, events_url) = fresh_queue("events").await;
        let (_, deliveries_url) = fresh_queue("deliveries").await;
        let (_, slow_url) = fresh_queue("slow-deliveries").await;
        let events = SqsEventQueue::new(sqs.clone(), &events_url);
        let deliveries = SqsDeliveryQueue::new(sqs, &deliveries_url).with_slow_lane(&slow_url);
        let app = App::new(parts::<LocalAws>(
            store,
            events,
            deliveries,
            ReqwestClient::new(local_egress()),
            clock,
        ));
        Self {
            app,
            events_queue_url: Some(events_url),
            deliveries_queue_url: Some(deliveries_url),
            slow_deliveries_queue_url: Some(slow_url),
        }
    }
}

impl TestApi<InMemory> {
    /// The API over the in-memory store and queues (no local stack needed).
    pub fn in_memory(clock: Arc<dyn Clock>) -> Self {
        let app = App::new(parts::<InMemory>(
            MemoryStore::new(),
            MemoryEventQueue::default(),
            MemoryDeliveryQueue::default(),
            ReqwestClient::new(local_egress()),
            clock,
        ));
        Self {
            app,
            events_queue_url: None,
            deliveries_queue_url: None,
            slow_deliveries_queue_url: None,
        }
    }
}

impl<P: Platform> TestApi<P> {
    pub async fn key(&self, account: &str) -> String {
        self.key_with_scope(account, KeyScope::Full).await
    }

    pub async fn key_with_scope(&self, account: &str, scope: KeyScope) -> String {
        let now = time::OffsetDateTime::now_utc();
        let (key, _) = hookline::apikeys::issue(&self.app.store, account, "tests", scope, now)
            .await
            .expect("issue an API key");
        key
    }

    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut headers = HashMap::new();
        if let Some(key) = key {
            headers.insert("authorization".to_string(), format!("Bearer {key}"));
        }
        self.send(method, path_and_query, headers, body.map(|b| b.to_string()))
            .await
    }

    /// Sends an API Gateway HTTP API (payload 2.0) event, as API Gateway would.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        headers: HashMap<String, String>,
        body: Option<String>,
    ) -> TestResponse {
        let request = api_gateway_request(method, path_and_query, headers, body);
        read_response(self.app.handle(request).await)
    }
}

/// Headers with `Authorization: Bearer <key>`.
pub fn bearer(key: &str) -> HashMap<String, String> {
    HashMap::from([("authorization".to_string(), format!("Bearer {key}"))])
}

/// An API Gateway HTTP API (payload 2.0) event for a test's request to a handler, parsed by
/// lambda_http as in Lambda: host `api.example.com`, and a body is JSON.
pub fn api_gateway_request(
    method: &str,
    path_and_query: &str,
    headers: HashMap<String, String>,
    body: Option<String>,
) -> lambda_http::Request {
    let mut header_map = HeaderMap::new();
    for (name, value) in headers {
        header_map.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("a valid header name"),
            HeaderValue::from_str(&value).expect("a valid header value"),
        );
    }
    header_map.insert(HOST, HeaderValue::from_static("api.example.com"));
    if body.is_some() {
        header_map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    api_gateway_event(
        method,
        path_and_query,
        &header_map,
        body.as_deref().map(str::as_bytes),
        "127.0.0.1",
    )
}

/// The API Gateway HTTP API (payload 2.0) event for one HTTP request as it arrived, parsed by
/// lambda_http as in Lambda. Shaped as API Gateway shapes it: header names in lower case,
/// repeated headers (and query parameters) joined by commas, cookies in a list of their own, a
/// body that is not UTF-8 in base64. `body` is `None` when the request had none.
pub fn api_gateway_event(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: Option<&[u8]>,
    source_ip: &str,
) -> lambda_http::Request {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match params.get_mut(k) {
            Some(Value::String(joined)) => {
                joined.push(',');
                joined.push_str(v);
            }
            _ => {
                params.insert(k.to_string(), v.into());
            }
        }
    }
    let mut header_values = serde_json::Map::new();
    let mut cookies = Vec::new();
    for name in headers.keys() {
        let values = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        if name == COOKIE {
            for value in values {
                let pairs = value.split(';').map(str::trim).filter(|c| !c.is_empty());
                cookies.extend(pairs.map(String::from));
            }
        } else {
            header_values.insert(
                name.to_string(),
                values.collect::<Vec<_>>().join(",").into(),
            );
        }
    }
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let host = header(HOST);
    let (body, is_base64) = match body {
        None => (Value::Null, false),
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => (text.into(), false),
            Err(_) => (STANDARD.encode(bytes).into(), true),
        },
    };
    let now = time::OffsetDateTime::now_utc();
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "cookies": if cookies.is_empty() { Value::Null } else { json!(cookies) },
        "headers": header_values,
        "queryStringParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": host,
            "domainPrefix": host.split('.').next().unwrap_or_default(),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": header(USER_AGENT)},
            "requestId": hookline::ids::ulid(now), "routeKey": "$default", "stage": "$default",
            "time": now.format(API_GATEWAY_TIME).expect("a formattable time"),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64
        },
        "body": body,
        "isBase64Encoded": is_base64
    });
    lambda_http::request::from_str(&event.to_string()).expect("a valid API Gateway v2 event")
}

/// `requestContext.time` as API Gateway writes it: `25/Nov/2026:12:00:00 +0000`.
const API_GATEWAY_TIME: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
    "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
);

/// Status, headers and JSON body of a handler's response.
pub fn read_response(response: lambda_http::Response<lambda_http::Body>) -> TestResponse {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = match response.into_body() {
        lambda_http::Body::Empty => Value::Null,
        lambda_http::Body::Text(t) => serde_json::from_str(&t).expect("JSON response body"),
        lambda_http::Body::Binary(b) => serde_json::from_slice(&b).expect("JSON response body"),
        _ => Value::Null,
    };
    TestResponse {
        status,
        headers,
        body,
    }
}

/// A valid outbound webhook body to start from.
pub fn outbound_body(url: &str) -> Value {
    json!({"name": "CRM sync", "flow": "outbound", "url": url, "notificationEmail": "ops@example.com",
           "events": ["case:new", "case:status:closed"]})
}

/// The webhook `body` describes, for `account`, validated as the API would with the local
/// stack's rules (plain http, 127.0.0.1 reachable); not saved.
pub fn webhook_from(body: &Value, account: &str) -> hookline::model::Webhook {
    let now = time::OffsetDateTime::now_utc();
    hookline::model::WebhookPatch::from_json(body)
        .expect("a valid webhook body")
        .create(
            hookline::ids::new_webhook_id(now),
            account.into(),
            now,
            &WebhookRules {
                allow_plain_http: true,
                egress: local_egress(),
                ..Default::default()
            },
        )
        .expect("a valid webhook")
}

/// Saves the outbound webhook `body` describes for `account`, as the API would (local rules).
pub async fn add_outbound_webhook(
    store: &DynamoStore,
    account: &str,
    body: &Value,
) -> hookline::model::Webhook {
    use hookline::store::WebhookStore;
    let webhook = webhook_from(body, account);
    store.create_webhook(&webhook).await.expect("saved");
    webhook
}

/// As `sqs_batch`, from the queue `queue` (a URL or name), named in each record's event
/// source ARN as Lambda names it.
pub fn sqs_batch_from(
    queue: &str,
    bodies: &[(&str, String)],
) -> aws_lambda_events::event::sqs::SqsEvent {
    let (account, name) = hookline::queue::queue_id(queue);
    let account = if account.is_empty() {
        "000000000000"
    } else {
        account
    };
    let arn = format!("arn:aws:sqs:us-east-1:{account}:{name}");
    let mut batch = sqs_batch(bodies);
    for record in &mut batch.records {
        record.event_source_arn = Some(arn.clone());
    }
    batch
}

/// An SQS event as Lambda hands it over: one record per `(message id, body)`, each received for
/// the first time and sent now.
pub fn sqs_batch(bodies: &[(&str, String)]) -> aws_lambda_events::event::sqs::SqsEvent {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let sent = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).to_string();
    let mut batch = SqsEvent::default();
    batch.records = bodies
        .iter()
        .map(|(id, body)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(id.to_string());
            m.receipt_handle = Some(format!("receipt-{id}"));
            m.body = Some(body.clone());
            m.attributes
                .insert("ApproximateReceiveCount".into(), "1".into());
            m.attributes.insert("SentTimestamp".into(), sent.clone());
            m
        })
        .collect();
    batch
}

/// The same batch received once more (its receive counts one higher).
pub fn received_again(
    mut batch: aws_lambda_events::event::sqs::SqsEvent,
) -> aws_lambda_events::event::sqs::SqsEvent {
    for m in &mut batch.records {
        let count: u32 = m
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        m.attributes
            .insert("ApproximateReceiveCount".into(), (count + 1).to_string());
    }
    batch
}

/// A `case:new` event of `account` with id `id`, as published now.
pub fn case_new(account: &str, id: &str) -> hookline::events::Event {
    hookline::events::Event::from_publish(
        &json!({"id": id, "event": "case:new", "data": {"caseId": id}}),
        account,
        time::OffsetDateTime::now_utc(),
    )
    .expect("a valid event")
}

/// A valid inbound webhook body to start from.
pub fn inbound_body(url: &str) -> Value {
    json!({"name": "Order lookup", "flow": "inbound", "url": url, "notificationEmail": "ops@example.com",
           "method": "GET", "variables": ["order.status"], "fallbackResponse": {"order": {"status": "unknown"}}})
}

/// The sender domain tests verify in the local SES.
pub const SENDER_DOMAIN: &str = "hookline.test";

/// A mailer on the local SES, its sender domain verified.
pub async fn ses_mailer() -> hookline::notify::SesMailer {
    let client = aws_sdk_sesv2::Client::new(&sdk_config().await);
    match client
        .create_email_identity()
        .email_identity(SENDER_DOMAIN)
        .send()
        .await
    {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) => {}
        Err(e) => panic!("verify {SENDER_DOMAIN} in the local SES: {e:?}"),
    }
    hookline::notify::SesMailer::new(client, format!("notifications@{SENDER_DOMAIN}"))
}

/// A sent e-mail as the local SES recorded it.
#[derive(Debug, Clone)]
pub struct SentEmail {
    pub source: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// What the local SES sent to `to` (addresses are unique per test: SES state is shared).
pub async fn emails_to(to: &str) -> Vec<SentEmail> {
    let data: Value = reqwest::get(format!("{}/moto-api/data.json", endpoint()))
        .await
        .expect("moto's data endpoint")
        .json()
        .await
        .expect("moto's data is JSON");
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages
        .iter()
        .map(|m| SentEmail {
            source: m["source"].as_str().unwrap_or_default().to_string(),
            to: m["destinations"]["ToAddresses"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            subject: m["subject"].as_str().unwrap_or_default().to_string(),
            body: m["body"].as_str().unwrap_or_default().to_string(),
        })
        .filter(|e| e.to.iter().any(|t| t == to))
        .collect()
}

/// An address no other test uses.
pub fn unique_email() -> String {
    format!(
        "ops+{}@example.com",
        hookline::ids::ulid(time::OffsetDateTime::now_utc()).to_lowercase()
    )
}

/// A fresh SQS queue in the local stack: the client and the queue URL.
pub async fn fresh_queue(prefix: &str) -> (aws_sdk_sqs::Client, String) {
    let client = aws_sdk_sqs::Client::new(&sdk_config().await);
    let name = format!(
        "{prefix}-{}",
        hookline::ids::ulid(time::OffsetDateTime::now_utc()).to_lowercase()
    );
    let out = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create a queue in the local stack");
    (client, out.queue_url().expect("a queue URL").to_string())
}

/// The egress policy of the local stack: public addresses, and 127.0.0.1 where the tests'
/// receivers listen (not the rest of 127/8, nor ::1).
pub fn local_egress() -> hookline::egress::EgressPolicy {
    hookline::egress::EgressPolicy::from_list("127.0.0.1/32").expect("a valid CIDR")
}

/// One invocation of outbound delivery with `batch`, as Lambda makes it: its deadline the
/// template's timeout (120 s) from now, by the clock the engine runs on.
pub async fn invoke<S, H, M, Q>(
    d: &hookline::outbound::Deliverer<S, H, M, Q>,
    batch: aws_lambda_events::event::sqs::SqsEvent,
) -> aws_lambda_events::event::sqs::SqsBatchResponse
where
    S: hookline::outbound::Backend,
    H: hookline::http::HttpClient,
    M: hookline::notify::Mailer,
    Q: hookline::queue::DeliveryQueue + hookline::queue::Postpone,
{
    let deadline = d.clock().now() + time::Duration::seconds(120);
    outbound_delivery::handle_batch(d, batch, deadline).await
}

/// The outbound delivery engine over the in-memory deliveries queue, as tests build it.
pub type MemoryEngine<S, H, M> =
    hookline::outbound::Deliverer<S, H, M, hookline::queue::MemoryDeliveryQueue>;

/// Sends the failure e-mails an engine queued on its in-memory deliveries queue, as the
/// delivery function does when it receives them.
pub async fn send_queued_notices<S, H, M>(d: &MemoryEngine<S, H, M>)
where
    S: hookline::outbound::Backend,
    H: hookline::http::HttpClient,
    M: hookline::notify::Mailer,
{
    let notices = std::mem::take(&mut *d.queue().notices.lock().unwrap());
    for notice in notices {
        d.send_notice(&notice).await.expect("the notice is sent");
    }
}

/// A first receive, now by the engine's clock.
pub fn first_receive<S, H, M>(d: &MemoryEngine<S, H, M>) -> hookline::outbound::Receive {
    hookline::outbound::Receive {
        count: 1,
        sent_at: d.clock().now(),
    }
}

/// What the two queues do with one event: it fans out, then each first try it queued is
/// received once, fresh. Retries and notices those queue stay on the queue. Returns how many
/// deliveries the event made.
pub async fn deliver_event<S, H, M>(
    d: &MemoryEngine<S, H, M>,
    event: &hookline::events::Event,
) -> usize
where
    S: hookline::outbound::Backend,
    H: hookline::http::HttpClient,
    M: hookline::notify::Mailer,
{
    let message = hookline::queue::EventMessage {
        event: event.clone(),
        republished: false,
    };
    let n = d
        .fan_out(
            &message,
            &first_receive(d),
            d.clock().now() + time::Duration::minutes(2),
        )
        .await
        .expect("the event fans out");
    let first_tries = {
        let mut queued = d.queue().queued.lock().unwrap();
        let at = queued.len() - n;
        queued.split_off(at)
    };
    for message in &first_tries {
        receive(d, message).await;
    }
    n
}

/// The delivery messages waiting on the queue (retries, resends), taken off it.
pub fn take_queued<S, H, M>(d: &MemoryEngine<S, H, M>) -> Vec<hookline::queue::DeliveryMessage> {
    std::mem::take(&mut *d.queue().queued.lock().unwrap())
}

/// One receive of `message`, now, as its first, in an invocation with time to spare.
pub async fn receive<S, H, M>(
    d: &MemoryEngine<S, H, M>,
    message: &hookline::queue::DeliveryMessage,
) -> hookline::outbound::Handled
where
    S: hookline::outbound::Backend,
    H: hookline::http::HttpClient,
    M: hookline::notify::Mailer,
{
    let deadline = d.clock().now() + time::Duration::seconds(120);
    d.deliver(message, &first_receive(d), deadline)
        .await
        .expect("the delivery message is handled")
}
