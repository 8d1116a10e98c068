//! The HTTP client every call to a customer's URL goes through (resolve, test, delivery):
//! a per-request timeout, no redirects followed, response bodies read only up to a cap, and the
//! egress policy (the SSRF guard) applied to every address it connects to.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::egress::EgressPolicy;

use time::OffsetDateTime;

/// The most headers an answer may have.
pub const MAX_RESPONSE_HEADERS: usize = 100;

pub const USER_AGENT: &str = concat!("Hookline-Webhooks/", env!("CARGO_PKG_VERSION"));

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }
}

#[derive(Clone, Debug)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The whole exchange, connect to last body byte.
    pub timeout: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: http::HeaderMap,
    /// At most the cap the caller asked for.
    pub body: Vec<u8>,
    /// The receiver sent more than the cap; the rest was not read.
    pub truncated: bool,
}

impl HttpResponse {
    /// `Retry-After` as a wait from `now`: delay-seconds or an HTTP date.
    pub fn retry_after(&self, now: OffsetDateTime) -> Option<Duration> {
        let value = self.headers.get("retry-after")?.to_str().ok()?.trim();
        if let Ok(secs) = value.parse::<u64>() {
            return Some(Duration::from_secs(secs));
        }
        let at =
            OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
        Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("timed out")]
    Timeout,
    #[error("connection failed: {0}")]
    Connect(String),
    /// The egress policy forbids the address (SSRF guard); nothing was sent.
    #[error("refused: {0}")]
    Refused(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("request failed: {0}")]
    Other(String),
}

pub trait HttpClient: Send + Sync {
    /// Sends `request`, reading at most `max_body` bytes of the answer.
    fn send(
        &self,
        request: HttpRequest,
        max_body: usize,
    ) -> impl Future<Output = Result<HttpResponse, HttpError>> + Send;
}

/// A host the egress policy does not let us reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} is {why}")]
struct EgressRefused {
    host: String,
    why: &'static str,
}

/// DNS resolution that keeps only the addresses the policy allows. reqwest connects to exactly
/// the addresses this returns, so the address checked is the address used: a name cannot
/// resolve to a public address for the check and a private one for the connection.
struct GuardedResolver {
    policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut why = "not resolvable";
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.refusal(addr.ip()) {
                    None => true,
                    Some(reason) => {
                        why = reason;
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(EgressRefused { host, why })
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// reqwest with rustls: connection pooling across calls of one Lambda instance.
#[derive(Clone)]
pub struct ReqwestClient {
    client: reqwest::Client,
    policy: Arc<EgressPolicy>,
}

impl std::fmt::Debug for ReqwestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReqwestClient")
            .field("policy", &self.policy)
            .finish()
    }
}

impl ReqwestClient {
    pub fn new(policy: EgressPolicy) -> Self {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .pool_idle_timeout(Duration::from_secs(30))
            // hyper's default, stated: more headers than this and the answer is refused.
            .http1_max_headers(MAX_RESPONSE_HEADERS)
            .user_agent(USER_AGENT)
            // HTTP_PROXY, HTTPS_PROXY and ALL_PROXY are ignored: through a proxy the SSRF
            // guard would check the proxy's address, not the receiver's.
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .build()
            .expect("a client with these settings always builds");
        Self { client, policy }
    }

    /// IP literals never reach the resolver: they are checked here. The parsed URL is what
    /// the request is sent to, so it is parsed once.
    fn checked_url(&self, url: &str) -> Result<url::Url, HttpError> {
        let parsed = url::Url::parse(url).map_err(|e| HttpError::Invalid(e.to_string()))?;
        // Never sent: the API refuses them on save, and a request built whole would drop them
        // silently (reqwest's builder turned them into a Basic header).
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(HttpError::Invalid(
                "credentials in the URL are not sent; use basic security".into(),
            ));
        }
        let ip = crate::egress::literal_ip(&parsed);
        match ip.and_then(|ip| self.policy.refusal(ip).map(|why| (ip, why))) {
            Some((ip, why)) => Err(HttpError::Refused(format!("{ip} is {why}"))),
            None => Ok(parsed),
        }
    }
}

fn classify(err: reqwest::Error) -> HttpError {
    let mut source = std::error::Error::source(&err);
    // The deepest cause says why (refused, reset, DNS, TLS) without the URL, which may hold
    // variables.
    let mut cause = String::new();
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<EgressRefused>() {
            return HttpError::Refused(refused.to_string());
        }
        cause = s.to_string();
        source = s.source();
    }
    if err.is_timeout() {
        HttpError::Timeout
    } else if err.is_connect() {
        HttpError::Connect(if cause.is_empty() {
            "no connection".into()
        } else {
            cause
        })
    } else if err.is_builder() {
        HttpError::Invalid(err.without_url().to_string())
    } else if cause.is_empty() {
        HttpError::Other(err.without_url().to_string())
    } else {
        HttpError::Other(format!("{}: {cause}", err.without_url()))
    }
}

impl HttpClient for ReqwestClient {
    async fn send(&self, request: HttpRequest, max_body: usize) -> Result<HttpResponse, HttpError> {
        let url = self.checked_url(&request.url)?;
        let method = match request.method {
            HttpMethod::Get => reqwest::Method::GET,
            HttpMethod::Post => reqwest::Method::POST,
        };
        // The request is built as a whole rather than through `RequestBuilder`, whose header
        // map grows one header at a time (measured in BENCHMARKS.md's fan-out 1 profile).
        let mut headers = http::HeaderMap::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| HttpError::Invalid("a header name is not valid".into()))?;
            // As reqwest's builder read values: any byte but controls (not only ASCII).
            let value = http::HeaderValue::from_bytes(value.as_bytes())
                .map_err(|_| HttpError::Invalid(format!("the value of {name} is not valid")))?;
            headers.append(name, value);
        }
        let is_post = request.method == HttpMethod::Post;
        let mut outgoing = reqwest::Request::new(method, url);
        *outgoing.headers_mut() = headers;
        *outgoing.timeout_mut() = Some(request.timeout);
        if is_post {
            *outgoing.body_mut() = Some(request.body.into());
        }
        let mut response = self.client.execute(outgoing).await.map_err(classify)?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await.map_err(classify)? {
            let room = max_body - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            headers,
            body,
            truncated,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn with_retry_after(value: &str) -> HttpResponse {
        let mut headers = http::HeaderMap::new();
        headers.insert("retry-after", value.parse().unwrap());
        HttpResponse {
            status: 429,
            headers,
            body: vec![],
            truncated: false,
        }
    }

    #[tokio::test]
    async fn credentials_in_a_url_and_bad_headers_are_refused_before_anything_is_sent() {
        let client = ReqwestClient::new(EgressPolicy::public_only());
        let request = |url: &str, header: (&str, &str)| HttpRequest {
            method: HttpMethod::Post,
            url: url.into(),
            headers: vec![(header.0.into(), header.1.into())],
            body: b"{}".to_vec(),
            timeout: Duration::from_secs(1),
        };
        let fine = ("x-ok", "yes");
        for (url, header) in [
            ("https://user:pass@example.com/hook", fine),
            ("https://user@example.com/hook", fine),
            ("https://example.com/hook", ("bad name", "yes")),
            ("https://example.com/hook", ("x-bad", "line\nbreak")),
        ] {
            let answer = client.send(request(url, header), 1024).await;
            assert!(
                matches!(&answer, Err(HttpError::Invalid(why)) if !why.contains("pass")),
                "{url} {header:?}: {answer:?}"
            );
        }
    }

    /// A server on 127.0.0.1 that answers every request 200 and counts its connections.
    async fn counting_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (url, count)
    }

    #[tokio::test]
    async fn proxy_variables_are_ignored_so_the_guard_checks_the_receiver_itself() {
        let (proxy, proxied) = counting_server().await;
        let (target, reached) = counting_server().await;
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::set_var(name, &proxy);
        }
        let client = ReqwestClient::new(EgressPolicy::from_list("127.0.0.1/32").unwrap());
        let answer = client
            .send(
                HttpRequest {
                    method: HttpMethod::Post,
                    url: format!("{target}/hook"),
                    headers: vec![],
                    body: b"{}".to_vec(),
                    timeout: Duration::from_secs(5),
                },
                1024,
            )
            .await;
        for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"] {
            std::env::remove_var(name);
        }
        assert_eq!(answer.map(|a| a.status), Ok(200));
        assert_eq!(reached.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(proxied.load(std::sync::atomic::Ordering::SeqCst), 0);
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        let now = datetime!(2015-10-21 07:27:30 UTC);
        assert_eq!(
            with_retry_after("120").retry_after(now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            with_retry_after("Wed, 21 Oct 2015 07:28:00 GMT").retry_after(now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            with_retry_after("Wed, 21 Oct 2015 07:00:00 GMT").retry_after(now),
            Some(Duration::ZERO)
        );
        assert_eq!(with_retry_after("soon").retry_after(now), None);
    }
}
