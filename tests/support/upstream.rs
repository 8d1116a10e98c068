//! A scripted HTTP/1.1 server on 127.0.0.1 (port 0): the customer's URL in tests. It answers
//! each request with the next scripted reply (the last one repeats), or with whatever a script
//! function decides for that request, and records what arrived. Replies include the ways real
//! receivers misbehave: hanging, dripping a byte at a time, resetting, sending a gigabyte.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub enum Reply {
    /// Status, extra headers, body, after a delay.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        delay: Duration,
    },
    /// Accept the request and never answer.
    Hang,
    /// Status line and headers at once, then a `len`-byte body one byte every `every`.
    Drip { len: usize, every: Duration },
    /// Read the request, then reset the connection (RST, no answer).
    Reset,
    /// `200` with a `len`-byte body, written as fast as the client reads it.
    Huge { len: u64 },
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Self {
        Reply::Respond {
            status,
            headers: vec![],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }

    pub fn json(body: &str) -> Self {
        Self::status(200, body).with_header("content-type", "application/json")
    }

    pub fn with_header(self, name: &str, value: &str) -> Self {
        match self {
            Reply::Respond {
                status,
                mut headers,
                body,
                delay,
            } => {
                headers.push((name.into(), value.into()));
                Reply::Respond {
                    status,
                    headers,
                    body,
                    delay,
                }
            }
            hang => hang,
        }
    }

    pub fn after(self, wait: Duration) -> Self {
        match self {
            Reply::Respond {
                status,
                headers,
                body,
                ..
            } => Reply::Respond {
                status,
                headers,
                body,
                delay: wait,
            },
            hang => hang,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent (still percent-encoded).
    pub target: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decides the reply to each request.
pub type Script = Arc<dyn Fn(&Received) -> Reply + Send + Sync>;

pub struct Upstream {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    /// Body bytes written to clients (what a client that stops reading early was spared).
    body_bytes_sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    /// Answers the n-th request with `replies[n]`, the last one repeating.
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        let next = AtomicUsize::new(0);
        Self::scripted(move |_| {
            let n = next.fetch_add(1, Ordering::SeqCst);
            replies[n.min(replies.len() - 1)].clone()
        })
        .await
    }

    /// Answers each request with what `script` returns for it.
    pub async fn scripted(script: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Self {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let body_bytes_sent = Arc::new(AtomicU64::new(0));
        let (log, sent) = (received.clone(), body_bytes_sent.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, script.clone(), log.clone(), sent.clone()));
            }
        });
        Self {
            url,
            received,
            body_bytes_sent,
            task,
        }
    }

    pub fn body_bytes_sent(&self) -> u64 {
        self.body_bytes_sent.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    pub fn calls(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

/// A URL on 127.0.0.1 where nothing listens: connections are refused.
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

async fn serve(
    mut stream: TcpStream,
    script: Script,
    log: Arc<Mutex<Vec<Received>>>,
    sent: Arc<AtomicU64>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head_text = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let target = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    let received = Received {
        method,
        target,
        headers,
        body,
    };
    let reply = script(&received);
    log.lock().unwrap().push(received);
    match reply {
        Reply::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
        Reply::Reset => {
            // SO_LINGER 0: closing sends RST instead of FIN.
            let _ = stream.set_zero_linger();
            drop(stream);
        }
        Reply::Respond {
            status,
            headers,
            body,
            delay,
        } => {
            tokio::time::sleep(delay).await;
            let _ = stream
                .write_all(head(status, body.len() as u64, &headers).as_bytes())
                .await;
            if stream.write_all(&body).await.is_ok() {
                sent.fetch_add(body.len() as u64, Ordering::SeqCst);
            }
            let _ = stream.shutdown().await;
        }
        Reply::Drip { len, every } => {
            let _ = stream
                .write_all(head(200, len as u64, &[]).as_bytes())
                .await;
            for _ in 0..len {
                tokio::time::sleep(every).await;
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
        }
        Reply::Huge { len } => {
            let _ = stream.write_all(head(200, len, &[]).as_bytes()).await;
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if stream.write_all(&chunk[..n]).await.is_err() {
                    return; // the client hung up: it stopped reading
                }
                sent.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
        }
    }
}

fn head(status: u16, content_length: u64, headers: &[(String, String)]) -> String {
    let mut out = format!(
        "HTTP/1.1 {status} Status\r\ncontent-length: {content_length}\r\nconnection: close\r\n"
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out
}

/// Checks a request's HMAC signatures with the documented recipes, written here independently
/// of the code under test: Standard Webhooks' `webhook-signature` and the product's
/// `x-acquire-signature`.
pub fn verify_signatures(got: &Received, secret: &str) {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let b64 = base64::engine::general_purpose::STANDARD;
    let id = got.header("webhook-id").expect("webhook-id");
    let ts = got.header("webhook-timestamp").expect("webhook-timestamp");
    let key = match secret.strip_prefix("whsec_") {
        Some(encoded) => b64.decode(encoded).unwrap(),
        None => secret.as_bytes().to_vec(),
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(&got.body);
    let expected = format!("v1,{}", b64.encode(mac.finalize().into_bytes()));
    assert_eq!(got.header("webhook-signature"), Some(expected.as_str()));
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&got.body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got.header("x-acquire-signature"), Some(hex.as_str()));
}
