//! A local API Gateway: a real HTTP/1.1 server on 127.0.0.1 that turns each request into the
//! HTTP API (payload 2.0) event API Gateway sends, routes it as infra/template.yaml does and
//! writes the function's answer back; with outbound delivery's SQS event sources beside it, so
//! an event published through the API reaches its receivers with no help from the test. A
//! browser needs a real origin: this is the one the console's tests load it from.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use hookline::clock::SystemClock;
use hookline::http::ReqwestClient;
use hookline::notify::SesMailer;
use hookline::outbound::Deliverer;
use hookline::outbound::DeliverySettings;
use hookline::queue::SqsDeliveryQueue;
use hookline::store::dynamo::DynamoStore;
use http::header::{HeaderName, HeaderValue};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::stack::Stack;

/// API Gateway refuses larger request bodies (HTTP APIs: 10 MB) before any function runs.
const PAYLOAD_LIMIT: usize = 10 * 1024 * 1024;

/// How long one receive waits for messages: short, so a published event is picked up at once
/// and a dropped gateway leaves no receive running for long in moto.
const RECEIVE_WAIT_SECS: i32 = 1;

type DeliveryFunction = Deliverer<DynamoStore, ReqwestClient, SesMailer, SqsDeliveryQueue>;

/// The stack behind a real HTTP origin. Dropping it stops the server and the event sources.
pub struct Gateway {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub base_url: String,
    /// The functions behind the routes, over the gateway's own table and queues, for tests
    /// that look underneath.
    pub stack: Arc<Stack>,
    /// The server's accept loop; dropping the set aborts it.
    _server: JoinSet<()>,
    _event_sources: EventSources,
}

impl Gateway {
    /// Both HTTP functions over a fresh table and fresh queues in the local stack (its rules:
    /// plain http, 127.0.0.1 reachable), served on a free port, and outbound delivery fed
    /// from the events and deliveries queues.
    pub async fn start() -> Self {
        let stack = Arc::new(Stack::new().await);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on 127.0.0.1");
        let base_url = format!("http://{}", listener.local_addr().expect("its address"));
        let mut tasks = JoinSet::new();
        tasks.spawn(serve(listener, stack.clone()));
        let events_url = stack.api.events_queue_url.clone().expect("an events queue");
        let deliveries_url = stack
            .api
            .deliveries_queue_url
            .clone()
            .expect("a deliveries queue");
        let slow_url = stack
            .api
            .slow_deliveries_queue_url
            .clone()
            .expect("a slow lane's queue");
        let sqs = aws_sdk_sqs::Client::new(&crate::sdk_config().await);
        let mut queues = Vec::new();
        for url in [events_url, deliveries_url, slow_url] {
            let arn = hookline::local::queue_arn(&sqs, &url)
                .await
                .expect("the queue's ARN");
            queues.push(Queue { url, arn });
        }
        let event_sources = EventSources::start(stack.api.app.store.table().to_string(), queues);
        Self {
            base_url,
            stack,
            _server: tasks,
            _event_sources: event_sources,
        }
    }

    /// The absolute URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A new full-access API key of `account`.
    pub async fn key(&self, account: &str) -> String {
        self.stack.api.key(account).await
    }
}

/// Accepts connections until aborted; the connections go with it (their set is dropped).
async fn serve(listener: TcpListener, stack: Arc<Stack>) {
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: wait, as a server would.
                eprintln!("gateway: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let stack = stack.clone();
        connections.spawn(async move {
            let service = service_fn(move |req| {
                let stack = stack.clone();
                async move { Ok::<_, Infallible>(answer(&stack, peer, req).await) }
            });
            // A client that goes away mid-request is its own business.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// One request through API Gateway: read it whole, the event, the route's function, the answer.
async fn answer(
    stack: &Stack,
    peer: SocketAddr,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, PAYLOAD_LIMIT).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<LengthLimitError>() => {
            return gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
        }
        Err(_) => return gateway_error(StatusCode::BAD_REQUEST, "Bad Request"),
    };
    // What API Gateway adds about the connection (it speaks https; this stand-in, http).
    let mut headers = parts.headers.clone();
    for (name, value) in [
        ("x-forwarded-for", peer.ip().to_string()),
        ("x-forwarded-proto", "http".to_string()),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(&value).expect("an address is a valid header value"),
        );
    }
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let event = crate::api_gateway_event(
        parts.method.as_str(),
        path_and_query,
        &headers,
        (!body.is_empty()).then_some(&body[..]),
        &peer.ip().to_string(),
    );
    let function = async {
        if is_resolve_route(&parts.method, parts.uri.path()) {
            stack.resolver.handle(event).await
        } else {
            stack.api.app.handle(event).await
        }
    };
    // A function that panics is a failed invocation: API Gateway answers 500 for it.
    match AssertUnwindSafe(function).catch_unwind().await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = match body {
                lambda_http::Body::Text(text) => Bytes::from(text),
                lambda_http::Body::Binary(bytes) => Bytes::from(bytes),
                _ => Bytes::new(),
            };
            hyper::Response::from_parts(parts, Full::new(body))
        }
        Err(_) => gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
    }
}

/// infra/template.yaml gives `POST /api/v1/webhook/{id}/resolve` to the inbound resolver; every
/// other request (the API's routes, the console's files, unknown paths) reaches the management
/// API, which answers 404 for what it does not know.
fn is_resolve_route(method: &Method, path: &str) -> bool {
    let id = path
        .strip_prefix("/api/v1/webhook/")
        .and_then(|rest| rest.strip_suffix("/resolve"));
    method == Method::POST && id.is_some_and(|id| !id.is_empty() && !id.contains('/'))
}

/// An answer API Gateway gives itself, without the function, in its own shape.
fn gateway_error(status: StatusCode, message: &str) -> hyper::Response<Full<Bytes>> {
    let body = serde_json::json!({ "message": message }).to_string();
    hyper::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// A queue outbound delivery reads, as its event source mapping names it.
struct Queue {
    url: String,
    arn: String,
}

/// Outbound delivery's SQS event sources, on a thread of their own: rustc cannot prove the
/// future of `outbound_delivery::handle_batch` `Send` (a higher-ranked closure in its stream),
/// so it cannot be spawned on the test's runtime. Its own runtime drives it, with clients of
/// its own; dropping this stops it and waits for the thread.
struct EventSources {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for EventSources {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl EventSources {
    fn start(table: String, queues: Vec<Queue>) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("gateway-event-sources".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the event sources");
                runtime.block_on(async move {
                    let sdk = crate::sdk_config().await;
                    let sqs = aws_sdk_sqs::Client::new(&sdk);
                    let delivery: DeliveryFunction = Deliverer::new(
                        DynamoStore::from_sdk_config(&sdk, table)
                            .with_sealer(crate::sealer().await),
                        ReqwestClient::new(crate::local_egress()),
                        crate::ses_mailer().await,
                        SqsDeliveryQueue::new(sqs.clone(), &queues[1].url)
                            .with_slow_lane(&queues[2].url),
                        Arc::new(SystemClock),
                        hookline::random::os(),
                        DeliverySettings::default(),
                    );
                    let sources = futures::future::join_all(
                        queues.iter().map(|q| event_source(&sqs, q, &delivery)),
                    );
                    tokio::select! {
                        _ = stopped => {}
                        _ = sources => {}
                    }
                });
            })
            .expect("start the event sources' thread");
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

/// Lambda's SQS event source mapping of one queue: receive, invoke outbound delivery with the
/// batch, delete what it handled; until stopped.
async fn event_source(sqs: &aws_sdk_sqs::Client, queue: &Queue, delivery: &DeliveryFunction) {
    loop {
        let pumped = hookline::local::pump_once(
            sqs,
            &queue.url,
            &queue.arn,
            RECEIVE_WAIT_SECS,
            None,
            |batch| async { Ok(crate::invoke(delivery, batch).await) },
        )
        .await;
        if let Err(e) = pumped {
            eprintln!("gateway: event source of {}: {e}", queue.url);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_post_to_one_webhook_s_resolve_goes_to_the_resolver() {
        assert!(is_resolve_route(
            &Method::POST,
            "/api/v1/webhook/wh_1/resolve"
        ));
        assert!(!is_resolve_route(
            &Method::GET,
            "/api/v1/webhook/wh_1/resolve"
        ));
        assert!(!is_resolve_route(&Method::POST, "/api/v1/webhook//resolve"));
        assert!(!is_resolve_route(
            &Method::POST,
            "/api/v1/webhook/a/b/resolve"
        ));
        assert!(!is_resolve_route(
            &Method::POST,
            "/api/v1/webhook/wh_1/test"
        ));
        assert!(!is_resolve_route(&Method::POST, "/console/"));
    }
}
