//! Headless Chromium driven over WebDriver (chromedriver, with `fantoccini`), for end-to-end
//! tests of the web console as a person uses it: pages found by what they show, form controls
//! by their labels, every wait bounded and leaving a screenshot when it fails, and checks that
//! a page logged no JavaScript error, loaded nothing from another origin and passes axe-core.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`HOOKLINE_TEST_CHROMIUM` and
//! `HOOKLINE_TEST_CHROMEDRIVER` point elsewhere); without them a test fails, saying so.

use std::collections::BTreeSet;
use std::fs::File;
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const INSTALL_HINT: &str = "install them with `apt-get install chromium chromium-driver`, or \
     point HOOKLINE_TEST_CHROMIUM and HOOKLINE_TEST_CHROMEDRIVER at them";

/// How long a wait lasts unless a test sets `Browser::wait`.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(10);

/// Nothing the tests do not ask for: no first-run pages, no background calls to Google (there
/// is no network), and a window the size of a laptop's.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// One Chromium of a test's own (its own chromedriver, port and empty profile), ended on drop.
pub struct Browser {
    /// The WebDriver session, for what the helpers do not cover.
    pub client: Client,
    /// How long each `wait_*` waits before failing.
    pub wait: Duration,
    test: String,
    screenshots: AtomicUsize,
    /// Console entries read so far: chromedriver hands each out only once.
    console: Mutex<Vec<ConsoleEntry>>,
    /// Every URL the pages visited so far requested (pages forget theirs when left).
    requested: Mutex<BTreeSet<String>>,
    driver_log: PathBuf,
    /// Ends chromedriver and Chromium on drop; declared (so dropped) before the profile.
    _driver: Driver,
    /// Deleted on drop, once the browser is gone.
    _profile: tempfile::TempDir,
}

/// A line of the browser's console as chromedriver reports it.
#[derive(Debug, Clone)]
pub struct ConsoleEntry {
    /// `SEVERE` (errors, uncaught exceptions, failed loads), `WARNING`, `INFO`, ...
    pub level: String,
    /// `javascript`, `console-api`, `network`, `security`, ...
    pub source: String,
    pub message: String,
}

/// chromedriver, leading a process group of its own that every Chromium process it starts is
/// in: one signal ends them all on drop, even when the test panicked mid-session.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.0.wait();
        // Chromium's processes are not our children to wait for: give them a moment to be
        // gone before the profile under them is removed.
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline
            && Command::new("kill")
                .args(["-0", "--", &group])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless Chromium session. `test` names
    /// the screenshots (`target/console-screenshots/<test>-<nn>-<name>.png`).
    pub async fn start(test: &str) -> Self {
        let chromium = program("HOOKLINE_TEST_CHROMIUM", DEFAULT_CHROMIUM, "Chromium");
        let chromedriver = program(
            "HOOKLINE_TEST_CHROMEDRIVER",
            DEFAULT_CHROMEDRIVER,
            "chromedriver",
        );
        let dir = artifacts_dir();
        forget_screenshots_of(&dir, test);
        let driver_log = dir.join(format!("{test}-chromedriver.log"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // Made first, so that a panic below drops (ends) the browser before its profile.
        let profile = tempfile::Builder::new()
            .prefix("hookline-chromium-")
            .tempdir()
            .expect("a temporary profile directory");
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(File::create(&driver_log).expect("create the chromedriver log"))
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", chromedriver.display()));
        let mut driver = Driver(driver);
        let webdriver = format!("http://127.0.0.1:{port}");
        if let Err(why) = wait_until_ready(&webdriver, &mut driver.0).await {
            panic!(
                "chromedriver did not start: {why} (its log: {})",
                driver_log.display()
            );
        }
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
            // Keeps the console's lines for `console_entries`.
            "goog:loggingPrefs": {"browser": "ALL"},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object")
        };
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await;
        let client = client.unwrap_or_else(|e| {
            panic!(
                "no Chromium session from {}: {e} (chromedriver's log: {})",
                chromium.display(),
                driver_log.display()
            )
        });
        Self {
            client,
            wait: DEFAULT_WAIT,
            test: test.to_string(),
            screenshots: AtomicUsize::new(0),
            console: Mutex::new(Vec::new()),
            requested: Mutex::new(BTreeSet::new()),
            driver_log,
            _driver: driver,
            _profile: profile,
        }
    }

    /// Opens `url` and waits for its load event.
    pub async fn goto(&self, url: &str) {
        // The page being left forgets what it loaded: keep it first.
        self.record_requests().await;
        if let Err(e) = self.client.goto(url).await {
            self.fail(&format!("could not open {url}: {e}")).await;
        }
        // The default buffer (250 entries) could drop requests of a busy page.
        let _ = self
            .client
            .execute("performance.setResourceTimingBufferSize(100000)", vec![])
            .await;
    }

    /// Saves what the window shows as `<test>-<nn>-<name>.png` and prints where.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let n = self.screenshots.fetch_add(1, Ordering::SeqCst) + 1;
        let path = artifacts_dir().join(format!("{}-{n:02}-{}.png", self.test, file_safe(name)));
        match self.client.screenshot().await {
            Ok(png) => {
                std::fs::write(&path, png).expect("write the screenshot");
                eprintln!("screenshot: {}", path.display());
            }
            Err(e) => eprintln!("screenshot {} failed: {e}", path.display()),
        }
        path
    }

    /// Polls `check` (every 100 ms) until it gives a value, for at most `self.wait` (and the
    /// last check, at most 1 s). It says what it saw when it is not ready yet (`Err`): that
    /// and `what` make the failure message, with a screenshot.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        let deadline = Instant::now() + self.wait;
        loop {
            // Even a check that starts at the deadline gets time to answer.
            let budget = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let seen = match tokio::time::timeout(budget, check()).await {
                Ok(Ok(value)) => return value,
                Ok(Err(seen)) => seen,
                Err(_) => "the last check was still running".to_string(),
            };
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "waited {:?} for {what}; last seen: {seen}",
                    self.wait
                ))
                .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching `css` that is displayed, once there is one.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_until(&format!("a displayed `{css}`"), move || async move {
            for element in self.client.find_all(Locator::Css(css)).await.map_err(cmd)? {
                if element.is_displayed().await.map_err(cmd)? {
                    return Ok(element);
                }
            }
            Err(format!("no displayed `{css}`"))
        })
        .await
    }

    /// The first element matching `css` whose visible text contains `text`, once there is one.
    pub async fn wait_for_text(&self, css: &str, text: &str) -> Element {
        self.wait_until(&format!("{text:?} in a `{css}`"), move || async move {
            let mut texts = Vec::new();
            for element in self.client.find_all(Locator::Css(css)).await.map_err(cmd)? {
                let shown = element.text().await.map_err(cmd)?;
                if shown.contains(text) {
                    return Ok(element);
                }
                texts.push(shown);
            }
            Err(format!("the `{css}` elements read {texts:?}"))
        })
        .await
    }

    /// Waits until the document's title is `title`.
    pub async fn wait_for_title(&self, title: &str) {
        self.wait_until(&format!("the title {title:?}"), move || async move {
            let shown = self.client.title().await.map_err(cmd)?;
            if shown == title {
                Ok(())
            } else {
                Err(format!(
                    "the title is {shown:?} at {:?}",
                    self.current_url().await
                ))
            }
        })
        .await
    }

    /// The one displayed form control a `<label>` reading `label` names: through its `for`
    /// attribute, or by wrapping it. Fails when no label names a control (the control is not
    /// labelled for screen readers either) or when two displayed controls share the text.
    pub async fn field(&self, label: &str) -> Element {
        self.wait_until(&format!("one form control labelled {label:?}"), move || {
            self.labelled_control(label)
        })
        .await
    }

    async fn labelled_control(&self, label: &str) -> Result<Element, String> {
        let by_text = format!("//label[normalize-space(.)={}]", xpath_literal(label));
        let labels = self
            .client
            .find_all(Locator::XPath(&by_text))
            .await
            .map_err(cmd)?;
        if labels.is_empty() {
            return Err(format!("no <label> reads {label:?}"));
        }
        let mut controls = Vec::new();
        for l in labels {
            let control = match l.attr("for").await.map_err(cmd)? {
                Some(id) => {
                    let by_id = format!("//*[@id={}]", xpath_literal(&id));
                    self.client.find(Locator::XPath(&by_id)).await.ok()
                }
                None => l
                    .find(Locator::XPath(".//input|.//select|.//textarea"))
                    .await
                    .ok(),
            };
            if let Some(control) = control {
                if control.is_displayed().await.map_err(cmd)? {
                    controls.push(control);
                }
            }
        }
        match controls.len() {
            1 => Ok(controls.remove(0)),
            0 => Err(format!("the <label> {label:?} names no displayed control")),
            n => Err(format!("{n} displayed controls are labelled {label:?}")),
        }
    }

    /// The displayed button whose text (or accessible label) is `text`, once there is one.
    pub async fn button(&self, text: &str) -> Element {
        self.named("button", text).await
    }

    /// The displayed link whose text (or accessible label) is `text`, once there is one.
    pub async fn link(&self, text: &str) -> Element {
        self.named("a", text).await
    }

    async fn named(&self, tag: &str, text: &str) -> Element {
        let literal = xpath_literal(text);
        let xpath = format!("//{tag}[normalize-space(.)={literal} or @aria-label={literal}]");
        self.wait_until(&format!("a displayed <{tag}> named {text:?}"), || async {
            for element in self
                .client
                .find_all(Locator::XPath(&xpath))
                .await
                .map_err(cmd)?
            {
                if element.is_displayed().await.map_err(cmd)? {
                    return Ok(element);
                }
            }
            Err(format!("no displayed <{tag}> named {text:?}"))
        })
        .await
    }

    /// Clears the control labelled `label` and types `text` into it.
    pub async fn fill(&self, label: &str, text: &str) {
        let control = self.field(label).await;
        control.clear().await.expect("clear the control");
        control
            .send_keys(text)
            .await
            .expect("type into the control");
    }

    /// Everything the browser's console said since the session started.
    pub async fn console_entries(&self) -> Vec<ConsoleEntry> {
        match self.client.issue_cmd(ReadBrowserLog).await {
            Ok(Value::Array(new)) => {
                let mut console = self.console.lock().unwrap();
                console.extend(new.iter().map(|e| ConsoleEntry {
                    level: text_of(&e["level"]),
                    source: text_of(&e["source"]),
                    message: text_of(&e["message"]),
                }));
            }
            Ok(other) => panic!("chromedriver's browser log is not a list: {other}"),
            Err(e) => panic!("chromedriver gave no browser log: {e}"),
        }
        self.console.lock().unwrap().clone()
    }

    /// Fails, listing them, if the console has any error: an uncaught exception, a
    /// `console.error`, a resource that failed to load or a Content-Security-Policy refusal.
    /// Not the browser's own request for `/favicon.ico`, which it makes of every origin, nor an
    /// API's 4xx answer, which the page reads and shows (a validation error is a reply).
    pub async fn assert_no_js_errors(&self) {
        let errors: Vec<String> = self
            .console_entries()
            .await
            .into_iter()
            .filter(|e| e.level == "SEVERE" && !is_favicon_probe(e) && !is_api_refusal(e))
            .map(|e| format!("  [{}] {}", e.source, e.message))
            .collect();
        if !errors.is_empty() {
            self.fail(&format!(
                "the browser's console has {} error(s):\n{}",
                errors.len(),
                errors.join("\n")
            ))
            .await;
        }
    }

    /// Every URL the pages opened so far requested: documents, scripts, style sheets, images,
    /// fonts, fetches (the browser's Resource Timing entries).
    pub async fn requested_urls(&self) -> Vec<String> {
        self.record_requests().await;
        self.requested.lock().unwrap().iter().cloned().collect()
    }

    async fn record_requests(&self) {
        // Not the browser's own pages (its new tab page, before the first `goto`).
        const SCRIPT: &str = "if (!location.protocol.startsWith('http')) return [];\
             return performance.getEntriesByType('navigation')\
             .concat(performance.getEntriesByType('resource')).map(e => e.name);";
        let Ok(Value::Array(urls)) = self.client.execute(SCRIPT, vec![]).await else {
            return;
        };
        let mut requested = self.requested.lock().unwrap();
        requested.extend(urls.iter().filter_map(Value::as_str).map(String::from));
    }

    /// Fails, listing them, if any page loaded anything from an origin other than `origin`
    /// (`http://127.0.0.1:PORT`): the console must work with no CDN and no network.
    pub async fn assert_loaded_only_from(&self, origin: &str) {
        let origin = url::Url::parse(origin).expect("an origin URL").origin();
        let urls = self.requested_urls().await;
        let elsewhere: Vec<&String> = urls
            .iter()
            .filter(|u| match url::Url::parse(u) {
                Ok(u) if matches!(u.scheme(), "data" | "about") => false,
                Ok(u) => u.origin() != origin,
                Err(_) => true,
            })
            .collect();
        if !elsewhere.is_empty() {
            self.fail(&format!(
                "requests to other origins than {}: {elsewhere:#?}",
                origin.ascii_serialization()
            ))
            .await;
        }
        assert!(!urls.is_empty(), "no request was recorded at all");
    }

    /// Runs axe-core over the part of the page `context` selects (a CSS selector; `html` for
    /// all of it) and fails on any serious or critical violation, listing each with its rule,
    /// what to fix and where. Minor and moderate ones are printed, not failed. (axe reads the
    /// style sheets again: one from another origin adds a CORS error to the console.)
    pub async fn assert_accessible(&self, context: &str) {
        const LOADED: &str = "return typeof window.axe === 'object';";
        const RUN: &str = r#"
            const [context, done] = arguments;
            axe.run(context, { resultTypes: ['violations'] })
              .then(r => done({ violations: r.violations.map(v => ({
                  id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                  nodes: v.nodes.map(n => ({
                      target: n.target.map(t => Array.isArray(t) ? t.join(' >>> ') : t).join(' '),
                      summary: n.failureSummary || '' })) })) }))
              .catch(e => done({ error: String(e) }));"#;
        let loaded = self.client.execute(LOADED, vec![]).await.map_err(cmd);
        if loaded != Ok(Value::Bool(true)) {
            let inject = format!("{}\nreturn typeof window.axe === 'object';", axe_source());
            let injected = self.client.execute(&inject, vec![]).await.map_err(cmd);
            assert_eq!(
                injected,
                Ok(Value::Bool(true)),
                "axe-core did not load into the page"
            );
        }
        let result = match self.client.execute_async(RUN, vec![json!(context)]).await {
            Ok(result) => result,
            Err(e) => self.fail(&format!("axe.run failed: {e}")).await,
        };
        if let Some(error) = result["error"].as_str() {
            self.fail(&format!("axe.run({context:?}) failed: {error}"))
                .await;
        }
        let violations = result["violations"].as_array().cloned().unwrap_or_default();
        let (failing, minor): (Vec<&Value>, Vec<&Value>) = violations
            .iter()
            .partition(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")));
        if !minor.is_empty() {
            eprintln!(
                "axe: minor or moderate issues in `{context}` (not failing):\n{}",
                describe_violations(&minor)
            );
        }
        if !failing.is_empty() {
            self.fail(&format!(
                "axe-core found {} serious or critical violation(s) in `{context}` at {:?}:\n{}",
                failing.len(),
                self.current_url().await,
                describe_violations(&failing)
            ))
            .await;
        }
    }

    async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map_or_else(|e| format!("(unknown: {e})"), |u| u.to_string())
    }

    /// Panics with `why`, after a screenshot of the moment.
    async fn fail(&self, why: &str) -> ! {
        let shot = self.screenshot("failure").await;
        panic!(
            "{why}\n(screenshot: {}; chromedriver's log: {})",
            shot.display(),
            self.driver_log.display()
        );
    }
}

/// The legacy log endpoint chromedriver still serves in W3C mode (`goog:loggingPrefs`).
#[derive(Debug)]
struct ReadBrowserLog;

impl WebDriverCompatibleCommand for ReadBrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}

/// The program `variable` names, or `default`; fails, saying how to install it, when missing.
fn program(variable: &str, default: &str, what: &str) -> PathBuf {
    let (path, from) = match std::env::var_os(variable) {
        Some(path) => (PathBuf::from(path), format!("{variable} names")),
        None => (PathBuf::from(default), "the default is".to_string()),
    };
    assert!(
        path.exists(),
        "the console's browser tests need {what}, and {from} {}, which does not exist: \
         {INSTALL_HINT} (scripts/test.sh skips these tests, saying so, where Chromium is missing)",
        path.display()
    );
    path
}

/// Polls chromedriver's `/status` until it is ready, for at most 10 s.
async fn wait_until_ready(webdriver: &str, driver: &mut Child) -> Result<(), String> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .expect("an HTTP client");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Some(status)) = driver.try_wait() {
            return Err(format!("it exited ({status})"));
        }
        let answer = http.get(format!("{webdriver}/status")).send().await;
        if let Ok(answer) = answer {
            let status: Value = answer.json().await.unwrap_or_default();
            if status["value"]["ready"] == true {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("{webdriver}/status was not ready in 10 s"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// axe-core's script, as `npm ci --prefix tests/console` installs it (read once).
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("console/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "axe-core is not installed ({}: {e}): run `npm ci --prefix tests/console` \
                 (scripts/test.sh does it)",
                path.display()
            )
        })
    })
}

/// `target/console-screenshots` (under CARGO_TARGET_DIR when set), created.
fn artifacts_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is inside the workspace");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|dir| workspace.join(dir))
        .unwrap_or_else(|| workspace.join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// Removes a previous run's screenshots of `test`, so none is taken for this run's.
fn forget_screenshots_of(dir: &Path, test: &str) {
    let prefix = format!("{test}-");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix(&prefix) {
            // `<nn>-<name>.png`: not another test whose name starts with this one's.
            if rest.len() > 3 && rest.as_bytes()[..2].iter().all(u8::is_ascii_digit) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Chromium asks for `/favicon.ico` on its own, and logs the 404 of a page without an icon.
fn is_favicon_probe(entry: &ConsoleEntry) -> bool {
    let url = entry.message.split_whitespace().next().unwrap_or_default();
    entry.source == "network" && url::Url::parse(url).is_ok_and(|u| u.path() == "/favicon.ico")
}

/// Chromium logs every 4xx answer to a fetch; from `/api/` it is the API refusing a request
/// (400 with the field, 409), which the page shows. A page file that 404s still counts.
fn is_api_refusal(entry: &ConsoleEntry) -> bool {
    let url = entry.message.split_whitespace().next().unwrap_or_default();
    entry.source == "network"
        && entry.message.contains("responded with a status of 4")
        && url::Url::parse(url).is_ok_and(|u| u.path().contains("/api/"))
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `text` as an XPath 1.0 string literal (which has no escapes: quotes need `concat`).
fn xpath_literal(text: &str) -> String {
    if !text.contains('\'') {
        format!("'{text}'")
    } else if !text.contains('"') {
        format!("\"{text}\"")
    } else {
        let parts: Vec<String> = text.split('\'').map(|p| format!("'{p}'")).collect();
        format!("concat({})", parts.join(", \"'\", "))
    }
}

fn describe_violations(violations: &[&Value]) -> String {
    let mut out = String::new();
    for v in violations {
        out.push_str(&format!(
            "- {} ({}): {} <{}>\n",
            text_of(&v["id"]),
            text_of(&v["impact"]),
            text_of(&v["help"]),
            text_of(&v["helpUrl"])
        ));
        for node in v["nodes"].as_array().into_iter().flatten() {
            out.push_str(&format!("    at {}\n", text_of(&node["target"])));
            for line in text_of(&node["summary"]).lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
    }
    out
}

fn text_of(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), String::from)
}

fn cmd(e: fantoccini::error::CmdError) -> String {
    format!("WebDriver error: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xpath_literals_hold_any_quotes() {
        assert_eq!(xpath_literal("Name"), "'Name'");
        assert_eq!(xpath_literal("Owner's e-mail"), "\"Owner's e-mail\"");
        assert_eq!(xpath_literal(r#"a'b"c"#), r#"concat('a', "'", 'b"c')"#);
    }
}
