//! The inbound verifiers published under docs/verify/ (Python and Node), run as the receivers
//! of real inbound calls: Hookline's signed calls pass, and the same request changed in any part
//! it signs (query, method, body, time) or signed with another secret is refused.

use std::process::Stdio;
use std::time::Duration;

use hookline::signing::{request_signature, request_target};
use hookline_tests::stack::Stack;
use hookline_tests::upstream::{Received, Reply, Upstream};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// A verifier script serving on a free port of 127.0.0.1; killed when dropped.
struct Verifier {
    _child: Child,
    url: String,
}

impl Verifier {
    async fn start(program: &str, script: &str) -> Self {
        let path = format!("{}/../docs/verify/{script}", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new(program)
            .arg(&path)
            .env("WEBHOOK_SECRET", SECRET)
            .env("PORT", "0")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("start {program} {path}: {e}"));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{script} did not say it was listening"))
            .unwrap()
            .unwrap_or_default();
        let port = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("{script} said {first:?}"));
        Self {
            _child: child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

fn inbound(url: &str, method: &str) -> Value {
    let mut body =
        hookline_tests::inbound_body(&format!("{url}/orders?email={{{{visitor.email}}}}"));
    body["method"] = json!(method);
    body["security"] = json!({"type": "hmac", "secret": SECRET});
    body
}

/// Sends `request` as captured, with `change` applied, straight to the verifier.
async fn replay(
    verifier: &Verifier,
    request: &Received,
    change: impl FnOnce(&mut Replayed),
) -> u16 {
    let mut r = Replayed {
        method: request.method.clone(),
        target: request.target.clone(),
        headers: request.headers.clone(),
        body: request.body.clone(),
    };
    change(&mut r);
    let mut builder = reqwest::Client::new().request(
        r.method.parse().unwrap(),
        format!("{}{}", verifier.url, r.target),
    );
    for (name, value) in &r.headers {
        if !["host", "content-length"].contains(&name.as_str()) {
            builder = builder.header(name, value);
        }
    }
    let answer = builder
        .body(r.body)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    answer.status().as_u16()
}

struct Replayed {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Replayed {
    fn set(&mut self, name: &str, value: String) {
        self.headers.retain(|(n, _)| n != name);
        self.headers.push((name.to_string(), value));
    }

    fn header(&self, name: &str) -> &str {
        &self.headers.iter().find(|(n, _)| n == name).unwrap().1
    }

    /// A correct signature of this request under `secret` at `timestamp`.
    fn sign(&mut self, secret: &str, timestamp: i64) {
        let id = self.header("webhook-id").to_string();
        let sig = request_signature(
            secret,
            &self.method,
            &self.target,
            &id,
            timestamp,
            &self.body,
        );
        self.set("webhook-timestamp", timestamp.to_string());
        self.set("hookline-signature", sig);
    }
}

async fn verifier_accepts_hookline_and_nothing_else(program: &str, script: &str) {
    let stack = Stack::new().await;
    let key = stack.api.key("acme").await;
    let verifier = Verifier::start(program, script).await;
    let variables = json!({"variables": {"visitor": {"email": "ada+1@example.com"}}});

    for method in ["GET", "POST"] {
        // A real resolution: the verifier's answer, not the fallback.
        let id = stack.create(&key, inbound(&verifier.url, method)).await;
        let r = stack
            .resolve(Some(&key), &id, Some(variables.clone()))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.body["source"], "webhook", "{script} {method}: {}", r.body);
        assert_eq!(
            r.body["data"]["verifiedTarget"],
            "/orders?email=ada%2B1%40example.com"
        );

        // The same call captured, then replayed to the verifier as it was and changed.
        let capture = Upstream::start(vec![Reply::json("{}")]).await;
        let id = stack.create(&key, inbound(&capture.url, method)).await;
        stack
            .resolve(Some(&key), &id, Some(variables.clone()))
            .await;
        let sent = capture.received()[0].clone();
        assert_eq!(
            Some(sent.target.clone()),
            request_target(&format!("{}{}", capture.url, sent.target)),
            "the target signed is the one sent"
        );
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let check = |what: &str, expected: u16, status: u16| {
            assert_eq!(status, expected, "{script} {method}: {what}");
        };
        check("as sent", 200, replay(&verifier, &sent, |_| {}).await);
        check(
            "during a rotation, one good signature among others",
            200,
            replay(&verifier, &sent, |r| {
                let good = r.header("hookline-signature").to_string();
                r.set("hookline-signature", format!("v1,AAAA {good}"));
            })
            .await,
        );
        check(
            "another query",
            401,
            replay(&verifier, &sent, |r| {
                r.target = "/orders?email=eve%40example.com".into()
            })
            .await,
        );
        check(
            "another method",
            401,
            replay(&verifier, &sent, |r| {
                r.method = if method == "GET" { "POST" } else { "GET" }.into()
            })
            .await,
        );
        check(
            "another body",
            401,
            replay(&verifier, &sent, |r| r.body = b"{\"visitor\":{}}".to_vec()).await,
        );
        check(
            "another timestamp",
            401,
            replay(&verifier, &sent, |r| {
                let later = r.header("webhook-timestamp").parse::<i64>().unwrap() + 1;
                r.set("webhook-timestamp", later.to_string());
            })
            .await,
        );
        check(
            "only the Standard Webhooks signature",
            401,
            replay(&verifier, &sent, |r| {
                r.headers.retain(|(n, _)| n != "hookline-signature")
            })
            .await,
        );
        check(
            "signed with another secret",
            401,
            replay(&verifier, &sent, |r| r.sign(OTHER_SECRET, now)).await,
        );
        check(
            "signed right, ten minutes old",
            401,
            replay(&verifier, &sent, |r| r.sign(SECRET, now - 600)).await,
        );
        check(
            "signed right, now (the check above is the time, not the signing)",
            200,
            replay(&verifier, &sent, |r| r.sign(SECRET, now)).await,
        );
    }
}

#[tokio::test]
async fn python_verifier_accepts_hookline_and_nothing_else() {
    verifier_accepts_hookline_and_nothing_else("python3", "inbound_receiver.py").await;
}

#[tokio::test]
async fn node_verifier_accepts_hookline_and_nothing_else() {
    verifier_accepts_hookline_and_nothing_else("node", "inbound-receiver.mjs").await;
}

/// The test vector the README's "Signatures" section publishes, checked by both verifiers (the Rust
/// signer checks it in shared/src/signing.rs).
#[tokio::test]
async fn both_verifiers_agree_with_the_published_test_vector() {
    let dir = format!("{}/../docs/verify", env!("CARGO_MANIFEST_DIR"));
    let python = format!(
        "import inbound_receiver as r\n\
         h = {{'webhook-id': 'msg_27UH4WbU6Z5A5EzD8u03UvzRbpk', 'webhook-timestamp': '1649367553',\n\
              'hookline-signature': '{VECTOR}'}}\n\
         ok = r.verify('{OTHER_SECRET}', 'GET', '/orders?email=ada%40example.com', h, b'', now=1649367553)\n\
         bad = r.verify('{OTHER_SECRET}', 'GET', '/orders?email=eve%40example.com', h, b'', now=1649367553)\n\
         print(ok, bad)"
    );
    let node = format!(
        "import {{ verify }} from './inbound-receiver.mjs';\n\
         const h = {{'webhook-id': 'msg_27UH4WbU6Z5A5EzD8u03UvzRbpk', 'webhook-timestamp': '1649367553',\n\
                    'hookline-signature': '{VECTOR}'}};\n\
         const ok = verify('{OTHER_SECRET}', 'GET', '/orders?email=ada%40example.com', h, Buffer.alloc(0), 1649367553);\n\
         const bad = verify('{OTHER_SECRET}', 'GET', '/orders?email=eve%40example.com', h, Buffer.alloc(0), 1649367553);\n\
         console.log(ok ? 'True' : 'False', bad ? 'True' : 'False');"
    );
    for (program, args) in [
        ("python3", vec!["-c".to_string(), python]),
        (
            "node",
            vec!["--input-type=module".into(), "-e".into(), node],
        ),
    ] {
        let out = Command::new(program)
            .args(&args)
            .current_dir(&dir)
            .output()
            .await
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "True False",
            "{program}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// What the README shows for the vector (signing.rs's unit test computes it).
const VECTOR: &str = "v1,vKQvMo6RXUfu/YxdQBPQEkuaTJjdnpI7jOYkWwbkQ3c=";
