//! The OpenAPI document through the tools its users run: openapi-spec-validator and Redocly's
//! recommended rules find no error; schemathesis, against the local stack, finds no failure in
//! any operation; and the typed client example (docs/client) compiles against the types
//! generated from the served document and runs. `make test` installs the tools
//! (scripts/lib.sh, `ensure_contract_tools`); a missing tool fails the test with how to get it.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use hookline_tests::gateway::Gateway;
use hookline_tests::upstream::{Reply, Upstream};
use serde_json::Value;
use tokio::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool the test needs, where `make test` puts it.
fn tool(relative: &str) -> PathBuf {
    let path = root().join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `make test` (scripts/test.sh installs the contract tools) or \
         `bash -c 'source scripts/lib.sh; ensure_contract_tools'`",
        path.display()
    );
    path
}

/// The document, as `GET /api/v1/openapi.json` answers it, in a file of its own.
fn document_file(name: &str) -> PathBuf {
    let dir = root().join("target/contract");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let text = serde_json::to_string_pretty(&hookline::api::openapi::document()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `command` to its end, at most `limit`; its output.
async fn run(command: &mut Command, limit: Duration) -> Output {
    let what = format!("{command:?}");
    tokio::time::timeout(limit, command.kill_on_drop(true).output())
        .await
        .unwrap_or_else(|_| panic!("{what} took more than {limit:?}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let document = document_file("openapi-validator.json");
    let output = run(
        Command::new(tool(".venv-contract/bin/openapi-spec-validator")).arg(&document),
        Duration::from_secs(120),
    )
    .await;
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("OK"), "{}", text(&output));
}

#[tokio::test]
async fn the_document_passes_redocly_recommended_rules() {
    let document = document_file("openapi-redocly.json");
    // No redocly.yaml anywhere above the document's folder: the recommended rules apply.
    let output = run(
        Command::new(tool("tests/contract/node_modules/.bin/redocly"))
            .args(["lint", "--format=json"])
            .arg(&document)
            .current_dir(document.parent().unwrap()),
        Duration::from_secs(120),
    )
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("redocly's JSON report ({e}): {}", text(&output)));
    assert_eq!(
        (
            report["totals"]["errors"].as_u64(),
            report["totals"]["warnings"].as_u64()
        ),
        (Some(0), Some(0)),
        "{}",
        serde_json::to_string_pretty(&report["problems"]).unwrap()
    );
    assert!(output.status.success(), "{}", text(&output));
}

/// What the operations of one flow need to answer 2xx (schemathesis.toml hands their ids to
/// them): an inbound webhook whose receiver answers, and an outbound one with a delivery.
struct Seeded {
    inbound: String,
    outbound: String,
    delivery: String,
    _receivers: [Upstream; 2],
}

impl Seeded {
    async fn new(gateway: &Gateway, key: &str) -> Self {
        let client = reqwest::Client::new();
        let shop = Upstream::start(vec![Reply::json(r#"{"order": {"status": "shipped"}}"#)]).await;
        let crm = Upstream::start(vec![Reply::status(200, "ok")]).await;
        let post = |path: &str, body: Value| {
            client
                .post(gateway.url(path))
                .bearer_auth(key)
                .json(&body)
                .timeout(Duration::from_secs(10))
                .send()
        };
        let created = |body: Value| async {
            let answer = post("/api/v1/webhook", body).await.unwrap();
            assert_eq!(answer.status(), 201);
            answer.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let inbound = created(serde_json::json!({
            "name": "Seeded inbound", "flow": "inbound", "url": format!("{}/order", shop.url),
            "notificationEmail": "ops@example.com", "variables": ["order.status"],
            "fallbackResponse": {}
        }))
        .await;
        let outbound = created(serde_json::json!({
            "name": "Seeded outbound", "flow": "outbound", "url": format!("{}/hooks", crm.url),
            "notificationEmail": "ops@example.com", "events": ["case:new"]
        }))
        .await;
        let published = post(
            "/api/v1/events",
            serde_json::json!({"event": "case:new", "data": {"caseId": "7"}}),
        )
        .await
        .unwrap();
        assert_eq!(published.status(), 202);
        // The gateway's event sources deliver it; its record is listed once written.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let delivery = loop {
            let page: Value = client
                .get(gateway.url(&format!("/api/v1/webhook/{outbound}/deliveries")))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if let Some(id) = page["data"][0]["id"].as_str() {
                break id.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no delivery within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        Self {
            inbound,
            outbound,
            delivery,
            _receivers: [shop, crm],
        }
    }
}

/// Schemathesis over every operation, against the local stack behind the local API Gateway:
/// its examples, coverage, fuzzing (positive and negative data) and stateful (the document's
/// links) phases, with every check. Bounded by example count and a time budget, with one
/// seed, so a run is repeatable and fits CI.
#[tokio::test]
async fn schemathesis_finds_no_failure_in_any_operation() {
    let gateway = Gateway::start().await;
    let key = gateway.key("schemathesis").await;
    let seeded = Seeded::new(&gateway, &key).await;
    let report = root().join("target/contract/schemathesis");
    std::fs::create_dir_all(&report).unwrap();
    let output = run(
        Command::new(tool(".venv-contract/bin/st"))
            .arg("--config-file")
            .arg(root().join("tests/contract/schemathesis.toml"))
            .arg("run")
            .arg(gateway.url("/api/v1/openapi.json"))
            .args(["--url", &gateway.base_url])
            .args(["--header", &format!("Authorization: Bearer {key}")])
            .args(["--checks", "all"])
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args(["--max-examples", "25", "--seed", "1"])
            .args(["--request-timeout", "15"])
            .args(["--report", "junit,har", "--report-dir"])
            .arg(&report)
            .args(["--no-color"])
            // Its cache (`.schemathesis/`) goes beside the reports, not into the checkout.
            .current_dir(&report)
            .env("HOOKLINE_TEST_INBOUND_WEBHOOK", &seeded.inbound)
            .env("HOOKLINE_TEST_OUTBOUND_WEBHOOK", &seeded.outbound)
            .env("HOOKLINE_TEST_DELIVERY", &seeded.delivery)
            .env("SCHEMATHESIS_HOOKS", "")
            .env(
                "HYPOTHESIS_STORAGE_DIRECTORY",
                root().join("target/contract/hypothesis"),
            ),
        Duration::from_secs(300),
    )
    .await;
    let out = text(&output);
    eprintln!("{out}");
    assert!(output.status.success(), "schemathesis failed: see above");
    // Every operation was tested but the one serving the document schemathesis loaded, which
    // it leaves out (the first test above checks that one).
    let expected = hookline::api::openapi::OPERATIONS.len() - 1;
    assert!(
        out.contains(&format!("Tested: {expected}\n")),
        "schemathesis did not test all {expected} operations"
    );
}

/// The README's typed client, step by step as it says: types generated from the served
/// document (`npm run generate`), the example compiled against them (`npm run build`: a body
/// of the wrong shape would not compile) and run (`npm run example`): it creates an outbound
/// webhook, publishes an event and reads its delivery, which reached the receiver.
#[tokio::test]
async fn the_typed_client_example_runs_against_the_local_stack() {
    let gateway = Gateway::start().await;
    let key = gateway.key("client-example").await;
    let receiver = Upstream::start(vec![Reply::status(200, "ok")]).await;
    let dir = root().join("docs/client");
    tool("docs/client/node_modules/.bin/openapi-typescript");
    let npm = |script: &str| {
        let mut command = Command::new("npm");
        command
            .args(["run", "--silent", script])
            .current_dir(&dir)
            .env("HOOKLINE_API_URL", &gateway.base_url)
            .env("HOOKLINE_API_KEY", &key)
            .env("HOOKLINE_RECEIVER_URL", format!("{}/hooks", receiver.url));
        command
    };
    for step in ["generate", "build"] {
        let output = run(&mut npm(step), Duration::from_secs(120)).await;
        assert!(output.status.success(), "npm run {step}: {}", text(&output));
    }
    let output = run(&mut npm("example"), Duration::from_secs(60)).await;
    assert!(
        output.status.success(),
        "npm run example: {}",
        text(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!(
                "the example's last line is its JSON summary ({e}): {}",
                text(&output)
            )
        });
    assert_eq!(summary["status"], "succeeded", "{summary}");
    assert_eq!(summary["attempts"], 1, "{summary}");
    assert_eq!(summary["receiverStatus"], 200, "{summary}");
    let received = receiver.received();
    assert_eq!(received.len(), 1, "the receiver got the one delivery");
    assert_eq!(
        received[0].header("webhook-id"),
        summary["delivery"].as_str()
    );
    assert!(received[0]
        .header("webhook-signature")
        .is_some_and(|s| s.starts_with("v1,")));
}
