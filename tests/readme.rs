//! The README's examples, run as written against the local stack: every `sh` block that talks
//! to it is run by bash and the real `curl`, in the README's order, against the local API
//! Gateway (support/gateway.rs, the routes and SQS event sources of a deployed stack) over
//! moto; every answer it shows is compared with the real one. Changing an answer without the
//! README, or the README without the code, fails here.
//!
//! What is compared: a shown answer is a ```json block right after a command block (for its
//! last call), or a `# {...}` / `# 204` comment on or after a command. Objects must have the
//! same keys (a `"...": "..."` entry allows others), arrays the same length, and values be
//! equal except: `"..."` stands for any value; ids (`wh_`, `evt_`, `dlv_`, `key_` + a ULID) are
//! mapped from the README's to the real ones as they are first seen, and the mapped ids are
//! used by the blocks after; times stand for any RFC 3339 time, `durationMs` for any number,
//! and a secret for any secret of the same kind. The README's example hosts
//! (`https://<name>.example.com`) are local receivers here, and `http://127.0.0.1:9000/
//! lambda-url/<function>` (`make run`'s addresses) the local gateway.
//!
//! A block that talks to the local stack but cannot run here, and every other `sh` block, is
//! listed in `NOT_RUN` with the reason: a new block fails the test until it runs or says why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use hookline_tests::gateway::Gateway;
use hookline_tests::upstream::{Reply, Upstream};
use serde_json::Value;

/// `sh` blocks not run here, by the start of their first line, and why.
const NOT_RUN: &[(&str, &str)] = &[
    (
        "make run    #",
        "the project's own commands: make test is what runs this file",
    ),
    (
        "make admin ARGS=",
        "make admin finds make run's stack (.local/stack.env); this test's gateway has its own table",
    ),
    (
        "cargo run --bin hookline-admin -- keys list",
        "against a deployed stack (AWS credentials)",
    ),
    ("make deploy-build", "deploys to AWS"),
    (
        "cd docs/client && npm ci",
        "tests/contract_tools.rs runs these steps (npm run generate, build, example) against its own gateway and receiver",
    ),
    (
        "HOOKLINE_TABLE_NAME=<TableName>",
        "against a deployed stack (AWS credentials)",
    ),
    (
        "aws sqs send-message-batch",
        "the AWS CLI is not installed by make test; tests/outbound.rs queues such bodies with the SDK",
    ),
];

#[derive(Debug)]
struct Block {
    file: String,
    line: usize,
    lang: String,
    text: String,
}

/// The fenced code blocks of `markdown`, with the line each starts on.
fn blocks(file: &str, markdown: &str) -> Vec<Block> {
    let mut found = Vec::new();
    let mut open: Option<(usize, String, Vec<&str>)> = None;
    for (n, line) in markdown.lines().enumerate() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((n + 1, lang.trim().to_string(), Vec::new())),
            (Some(_), Some(_)) => {
                let (line, lang, lines) = open.take().expect("open");
                found.push(Block {
                    file: file.to_string(),
                    line,
                    lang,
                    text: lines.join("\n"),
                });
            }
            (Some((_, _, lines)), None) => lines.push(line),
            (None, None) => {}
        }
    }
    found
}

/// One command of a block: its text, and the answer it shows (status and body), if any.
#[derive(Debug, Default)]
struct Shown {
    status: Option<u16>,
    body: Option<Value>,
}

/// The block's `curl` calls in order, each with what the block shows of its answer: a
/// `# 204` or `# {...}` comment on the command's last line or on a line of its own after it.
/// Comments inside a quoted body are not read; a `# {` comment that is not JSON is an error.
fn shown_answers(text: &str) -> Result<Vec<Shown>, String> {
    let mut calls: Vec<Shown> = Vec::new();
    let mut quoted = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if !quoted && trimmed.starts_with("curl ") {
            calls.push(Shown::default());
        }
        let was_quoted = quoted;
        quoted ^= line.matches('\'').count() % 2 == 1;
        let comment = if was_quoted && quoted {
            None
        } else if trimmed.starts_with('#') {
            Some(trimmed)
        } else {
            // After the quote that closes on this line, if any.
            let from = if was_quoted {
                line.rfind('\'').unwrap_or(0)
            } else {
                0
            };
            line[from..].rfind(" #").map(|i| &line[from + i + 1..])
        };
        let (Some(comment), Some(call)) = (comment, calls.last_mut()) else {
            continue;
        };
        let said = comment.trim_start_matches('#').trim();
        if let Ok(status) = said.parse::<u16>() {
            call.status = Some(status);
        } else if said.starts_with('{') {
            let body = serde_json::from_str(said)
                .map_err(|e| format!("line {}: a shown answer that is not JSON ({e})", n + 1))?;
            call.body = Some(body);
        }
    }
    Ok(calls)
}

/// What the README names and this run made: its example ids and hosts, and the real ones.
#[derive(Clone)]
struct Names {
    ids: HashMap<String, String>,
    hosts: HashMap<String, String>,
    gateway: String,
}

fn is_id(s: &str) -> bool {
    let Some((prefix, ulid)) = s.split_once('_') else {
        return false;
    };
    matches!(prefix, "wh" | "evt" | "dlv" | "key")
        && ulid.len() == 26
        && ulid
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

fn is_time(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

impl Names {
    /// `text` as this run must send it: the gateway for `make run`'s addresses, local
    /// receivers for the example hosts, the real ids for the README's.
    fn rewrite(&self, text: &str) -> String {
        // Marked with the function they name: the curl wrapper checks each call goes to a
        // route of that function (`make run` serves each at its own address), then drops it.
        let mut out = text
            .replace(
                "http://127.0.0.1:9000/lambda-url/webhooks-api",
                &format!("{}/@webhooks-api", self.gateway),
            )
            .replace(
                "http://127.0.0.1:9000/lambda-url/inbound-resolver",
                &format!("{}/@inbound-resolver", self.gateway),
            );
        for (example, real) in self.hosts.iter().chain(self.ids.iter()) {
            out = out.replace(example.as_str(), real);
        }
        out
    }

    /// Compares a shown answer with the real one (see the file's comment), learning ids.
    fn compare(&mut self, path: &str, shown: &Value, real: &Value) -> Result<(), String> {
        let differs = || format!("{path}: the README shows {shown}, the answer is {real}");
        match (shown, real) {
            (Value::String(s), _) if s == "..." => Ok(()),
            (Value::Object(s), Value::Object(r)) => {
                let open = s.contains_key("...");
                for key in r.keys() {
                    if !s.contains_key(key) && !open {
                        return Err(format!(
                            "{path}: the answer has `{key}`, the README does not"
                        ));
                    }
                }
                for (key, value) in s {
                    if key == "..." {
                        continue;
                    }
                    let Some(got) = r.get(key) else {
                        return Err(format!(
                            "{path}: the README shows `{key}`, the answer has none"
                        ));
                    };
                    self.compare(&format!("{path}.{key}"), value, got)?;
                }
                Ok(())
            }
            (Value::Array(s), Value::Array(_)) if s.len() == 1 && s[0] == "..." => Ok(()),
            (Value::Array(s), Value::Array(r)) => {
                if s.len() != r.len() {
                    return Err(differs());
                }
                for (i, (a, b)) in s.iter().zip(r).enumerate() {
                    self.compare(&format!("{path}[{i}]"), a, b)?;
                }
                Ok(())
            }
            (Value::Number(_), Value::Number(_)) if path.ends_with("durationMs") => Ok(()),
            (Value::String(s), Value::String(r)) => {
                if is_id(s) && is_id(r) && s.split('_').next() == r.split('_').next() {
                    // One real id for each of the README's, and the other way round.
                    if let Some(known) = self.ids.get(s) {
                        return if known == r { Ok(()) } else { Err(differs()) };
                    }
                    if self.ids.values().any(|v| v == r) {
                        return Err(format!("{path}: {r} is already another id of the README's"));
                    }
                    self.ids.insert(s.clone(), r.clone());
                    return Ok(());
                }
                if is_time(s) && is_time(r) {
                    return Ok(());
                }
                if s.starts_with("whsec_****") {
                    // A masked secret: the mask, and four characters of the real one.
                    let ok = r.starts_with("whsec_****") && r.len() == s.len();
                    return if ok { Ok(()) } else { Err(differs()) };
                }
                if s == "whsec_..." {
                    let ok = r.starts_with("whsec_") && !r.contains('*') && r.len() > 20;
                    return if ok { Ok(()) } else { Err(differs()) };
                }
                if s.starts_with("whsec_") {
                    let ok = r.starts_with("whsec_") && !r.contains('*') && r.len() == s.len();
                    return if ok { Ok(()) } else { Err(differs()) };
                }
                if self.rewrite(s) == *r {
                    Ok(())
                } else {
                    Err(differs())
                }
            }
            _ if shown == real => Ok(()),
            _ => Err(differs()),
        }
    }
}

/// The answers of one run of a block: each `curl` call's status and body.
struct Answer {
    status: u16,
    body: String,
}

/// Runs `script` (a block after its prelude) with bash in `dir`; `curl` is the real one, its
/// answers kept in order.
fn run_script(dir: &Path, script: &str) -> Result<Vec<Answer>, String> {
    let out = tempfile::tempdir().expect("a temporary directory");
    // `-q` first: no ~/.curlrc; no proxy for the local gateway; errors said.
    let wrapper = r#"set -euo pipefail
__n=0
curl() {
  __n=$((__n + 1))
  local args=() arg
  for arg in "$@"; do
    case "$arg" in
      *"/@inbound-resolver/"*)
        [[ "$arg" == */resolve ]] || { echo "not a route of inbound-resolver: $arg" >&2; return 97; }
        arg="${arg/\/@inbound-resolver/}" ;;
      *"/@webhooks-api/"*)
        [[ "$arg" != */resolve ]] || { echo "resolve is not a route of webhooks-api: $arg" >&2; return 97; }
        arg="${arg/\/@webhooks-api/}" ;;
    esac
    args+=("$arg")
  done
  command curl -q -S --noproxy '*' --max-time 30 -o "$__OUT/$__n.body" -w '%{http_code}' \
    "${args[@]}" >"$__OUT/$__n.status"
}
"#;
    let result = Command::new("bash")
        .arg("-c")
        .arg(format!("{wrapper}{script}\n"))
        .current_dir(dir)
        .env("__OUT", out.path())
        .output()
        .map_err(|e| format!("bash did not start: {e}"))?;
    if !result.status.success() {
        return Err(format!(
            "bash failed ({}): {}",
            result.status,
            String::from_utf8_lossy(&result.stderr)
        ));
    }
    let mut answers = Vec::new();
    for n in 1.. {
        let status_file = out.path().join(format!("{n}.status"));
        let Ok(status) = std::fs::read_to_string(&status_file) else {
            break;
        };
        answers.push(Answer {
            status: status.trim().parse().unwrap_or(0),
            body: std::fs::read_to_string(out.path().join(format!("{n}.body"))).unwrap_or_default(),
        });
    }
    Ok(answers)
}

/// The lines of earlier blocks that set the variables later ones use (`API=...`).
fn assignments(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| {
            let name: String = l.chars().take_while(|c| c.is_ascii_uppercase()).collect();
            !name.is_empty() && l[name.len()..].starts_with('=')
        })
        .map(|l| l.split(" #").next().unwrap_or(l).trim_end().to_string())
        .collect()
}

fn talks_to_the_stack(block: &Block) -> bool {
    block.text.contains("curl ")
        || (!block.text.trim().is_empty()
            && block
                .text
                .lines()
                .all(|l| !assignments(l).is_empty() || l.trim().is_empty()))
}

/// Waits (20 s at most) until the gateway's events queue holds nothing, in flight or not.
async fn events_queue_drained(gateway: &Gateway) {
    let url = gateway
        .stack
        .api
        .events_queue_url
        .clone()
        .expect("an events queue");
    let sqs = aws_sdk_sqs::Client::new(&hookline_tests::sdk_config().await);
    let started = std::time::Instant::now();
    loop {
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .send()
            .await
            .expect("the queue's attributes");
        let held: u64 = attributes
            .attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
            .unwrap_or(0);
        if held == 0 {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the events queue still holds {held} messages after 20 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

fn repo_path(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

fn repo_file(path: &str) -> String {
    std::fs::read_to_string(repo_path(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

// bash and curl block their thread while the gateway answers them: it needs threads of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_examples_run_as_written() {
    assert!(
        Command::new("curl").arg("--version").output().is_ok(),
        "curl is needed to run the README's examples as written"
    );
    let gateway = Gateway::start().await;
    let key = gateway.key("demo").await;
    let home = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(home.path().join(".local")).unwrap();
    std::fs::write(home.path().join(".local/demo-api-key"), &key).unwrap();

    // The example hosts: the shop answers the README's order; the others accept.
    let shop = Upstream::start(vec![Reply::json(
        r#"{"order": {"status": "shipped", "items": [{"sku": "A1"}]}}"#,
    )])
    .await;
    let crm = Upstream::start(vec![Reply::status(200, "")]).await;
    let receiver = Upstream::start(vec![Reply::status(200, "")]).await;
    let mut names = Names {
        ids: HashMap::new(),
        hosts: HashMap::from([
            ("https://shop.example.com".to_string(), shop.url.clone()),
            ("https://crm.example.com".to_string(), crm.url.clone()),
            (
                "https://receiver.example.com".to_string(),
                receiver.url.clone(),
            ),
        ]),
        gateway: gateway.base_url.clone(),
    };

    // The README, then every page under docs/.
    let mut pages: Vec<String> = std::fs::read_dir(repo_path("docs"))
        .expect("docs/")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".md"))
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    pages.insert(0, "README.md".into());
    let all: Vec<Block> = pages
        .iter()
        .flat_map(|page| blocks(page, &repo_file(page)))
        .collect();
    // A command for the stack in a block of another language would never run.
    for block in &all {
        assert!(
            block.lang == "sh"
                || !block.text.lines().any(|l| {
                    let l = l.trim_start();
                    l.starts_with("curl -")
                        || l.starts_with("curl \"")
                        || l.starts_with("curl http")
                }),
            "{}:{}: curl in a `{}` block: make it `sh`",
            block.file,
            block.line,
            block.lang
        );
    }
    // Each reason still names a block: the list does not outlive what it excuses.
    for (start, _) in NOT_RUN {
        assert!(
            all.iter()
                .any(|b| b.lang == "sh"
                    && b.text.lines().next().unwrap_or_default().starts_with(start)),
            "NOT_RUN names a block the docs no longer have: {start}"
        );
    }
    let mut paired: Vec<(&str, usize)> = Vec::new();
    let mut prelude: Vec<String> = Vec::new();
    let mut ran = 0;
    let mut i = 0;
    while i < all.len() {
        let block = &all[i];
        i += 1;
        if block.lang != "sh" {
            continue;
        }
        let first = block.text.lines().next().unwrap_or_default();
        if let Some((_, why)) = NOT_RUN.iter().find(|(start, _)| first.starts_with(start)) {
            eprintln!("{}:{}: not run: {why}", block.file, block.line);
            continue;
        }
        assert!(
            talks_to_the_stack(block),
            "{}:{}: an sh block neither run nor in NOT_RUN (say why it cannot run):\n{}",
            block.file,
            block.line,
            block.text
        );
        let mut shown = shown_answers(&block.text)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", block.file, block.line));
        // A ```json block right after (a sentence between at most) is the answer of the
        // block's last call.
        let ends = block.line + block.text.lines().count() + 1;
        let right_after = |b: &&Block| b.file == block.file && b.line <= ends + 4;
        if let Some(next) = all.get(i).filter(|b| b.lang == "json").filter(right_after) {
            let body: Value = serde_json::from_str(&next.text).unwrap_or_else(|e| {
                panic!(
                    "{}:{}: the shown answer is not JSON: {e}",
                    next.file, next.line
                )
            });
            if let Some(last) = shown.last_mut() {
                last.body = Some(body);
            }
            paired.push((next.file.as_str(), next.line));
            i += 1;
        }
        let mut text = names.rewrite(&block.text);
        if text.contains("<nextCursor>") {
            // "the next page": a cursor from a first page of one, which this run has (the
            // README has made two webhooks by then).
            let page: Value = reqwest::Client::new()
                .get(gateway.url("/api/v1/webhook?limit=1"))
                .bearer_auth(&key)
                .send()
                .await
                .expect("the gateway answers")
                .json()
                .await
                .expect("a page");
            let cursor = page["nextCursor"].as_str().expect("a second page");
            text = text.replace("<nextCursor>", cursor);
        }
        let script = format!("{}\n{text}", names.rewrite(&prelude.join("\n")));
        // A block of reads only (`curl -s URL`) is read again until its shown answers match,
        // for up to 30 s: what it reads (a delivery) may still be on its way, as it would be
        // for a reader who types the command at once.
        let reads_only = block
            .text
            .lines()
            .filter(|l| l.trim_start().starts_with("curl "))
            .all(|l| !l.contains(" -X ") && !l.contains(" -d "));
        let started = std::time::Instant::now();
        let answers = loop {
            let (dir, to_run) = (home.path().to_path_buf(), script.clone());
            let answers = tokio::task::spawn_blocking(move || run_script(&dir, &to_run))
                .await
                .expect("the script's thread")
                .unwrap_or_else(|e| panic!("{}:{}: {e}\n{script}", block.file, block.line));
            let mut trial = names.clone();
            let matches = answers.iter().zip(&shown).all(|(answer, shown)| {
                shown.body.as_ref().is_none_or(|body| {
                    serde_json::from_str(&answer.body)
                        .is_ok_and(|real| trial.compare("answer", body, &real).is_ok())
                })
            });
            if !reads_only || matches || started.elapsed() > std::time::Duration::from_secs(30) {
                break answers;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        };
        assert_eq!(
            answers.len(),
            shown.len(),
            "{}:{}: each curl answered",
            block.file,
            block.line
        );
        for (n, (answer, shown)) in answers.iter().zip(&shown).enumerate() {
            let at = format!("{}:{} call {}", block.file, block.line, n + 1);
            match shown.status {
                Some(status) => assert_eq!(answer.status, status, "{at}: {}", answer.body),
                None => assert!(
                    (200..300).contains(&answer.status),
                    "{at}: answered {}: {}",
                    answer.status,
                    answer.body
                ),
            }
            if let Some(body) = &shown.body {
                let real: Value = serde_json::from_str(&answer.body).unwrap_or_else(|e| {
                    panic!("{at}: the answer is not JSON ({e}): {}", answer.body)
                });
                if let Err(why) = names.compare("answer", body, &real) {
                    panic!("{at}: {why}");
                }
            }
        }
        prelude.extend(assignments(&block.text));
        ran += 1;
        if block.text.contains("/api/v1/events") {
            // Its fan-out is done before the next block (a webhook made next must not get it).
            events_queue_drained(&gateway).await;
        }
    }
    eprintln!("ran {ran} blocks");
    assert!(
        ran >= 10,
        "the README's examples were found and run ({ran})"
    );

    // Every JSON block of the README is an answer compared above.
    for block in all
        .iter()
        .filter(|b| b.file == "README.md" && b.lang == "json")
    {
        assert!(
            paired.contains(&(block.file.as_str(), block.line)),
            "README.md:{}: a shown answer right after no command block (put it after its command)",
            block.line
        );
    }

    // docs/events.md's example of each event type is an event the API takes as it is.
    let mut types = std::collections::BTreeSet::new();
    for example in all
        .iter()
        .filter(|b| b.file == "docs/events.md" && b.lang == "json")
    {
        let event: Value = serde_json::from_str(&example.text)
            .unwrap_or_else(|e| panic!("docs/events.md:{}: not JSON: {e}", example.line));
        let account = event["accountId"].as_str().expect("an accountId");
        let answer = reqwest::Client::new()
            .post(gateway.url("/api/v1/events"))
            .bearer_auth(gateway.key(account).await)
            .json(&event)
            .send()
            .await
            .expect("the gateway answers");
        let status = answer.status().as_u16();
        let body = answer.text().await.unwrap_or_default();
        assert_eq!(status, 202, "docs/events.md:{}: {body}", example.line);
        types.insert(event["event"].as_str().unwrap_or_default().to_string());
    }
    assert!(
        types.len() >= 4,
        "docs/events.md shows its event types: {types:?}"
    );
}

#[test]
fn a_shown_answer_matches_on_the_fields_that_matter() {
    let mut names = Names {
        ids: HashMap::new(),
        hosts: HashMap::from([(
            "https://crm.example.com".to_string(),
            "http://127.0.0.1:1234".to_string(),
        )]),
        gateway: "http://127.0.0.1:9".into(),
    };
    let shown: Value = serde_json::from_str(
        r#"{"id": "wh_01M88H4BD9G17PXN3VBVH0G0ZQ", "url": "https://crm.example.com/hooks",
            "at": "2026-11-25T04:58:53.737Z", "durationMs": 1, "note": "...", "version": 1}"#,
    )
    .unwrap();
    let real: Value = serde_json::from_str(
        r#"{"id": "wh_01KBQ7ZD8X0000000000000000", "url": "http://127.0.0.1:1234/hooks",
            "at": "2026-12-06T10:00:00Z", "durationMs": 7, "note": [1], "version": 1}"#,
    )
    .unwrap();
    names.compare("answer", &shown, &real).unwrap();
    assert_eq!(
        names.rewrite("curl $API/wh_01M88H4BD9G17PXN3VBVH0G0ZQ"),
        "curl $API/wh_01KBQ7ZD8X0000000000000000"
    );
    // Another value, a missing key, an extra key, another id for a mapped one: all differ.
    for other in [
        r#"{"version": 2}"#,
        r#"{"extra": true}"#,
        r#"{"id": "wh_01KBQ7ZD8X1111111111111111"}"#,
    ] {
        let mut changed = real.clone();
        let patch: Value = serde_json::from_str(other).unwrap();
        changed
            .as_object_mut()
            .unwrap()
            .extend(patch.as_object().unwrap().clone());
        assert!(
            names.compare("answer", &shown, &changed).is_err(),
            "{other}"
        );
    }
    let mut missing = real.clone();
    missing.as_object_mut().unwrap().remove("note");
    assert!(names.compare("answer", &shown, &missing).is_err());
}

#[test]
fn a_block_s_calls_and_their_shown_answers_are_found() {
    let text = r#"curl -s "$API/x" -H "$AUTH"             # one webhook (ETag: "1")
curl -s -X POST "$API" -d '{
  "name": "x"}'
# {"id":"evt_crm-42"}
curl -s -X DELETE "$API/x" -H "$AUTH"   # 204"#;
    let shown = shown_answers(text).unwrap();
    assert_eq!(shown.len(), 3);
    assert_eq!((shown[0].status, &shown[0].body), (None, &None));
    assert_eq!(shown[1].body, Some(serde_json::json!({"id": "evt_crm-42"})));
    assert_eq!(shown[2].status, Some(204));
}
