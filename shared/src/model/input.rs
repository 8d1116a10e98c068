//! Turning an API request body into a valid webhook, or a `ValidationError` that names the field.
//!
//! Bodies are read field by field from a JSON object rather than through `#[derive(Deserialize)]`,
//! so every error can name the exact field (`security.secret`, `events[2]`), unknown fields are
//! refused by name, and fields of the other flow are refused rather than dropped.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::security::{mask, secrets_equal, Security};
use super::{
    EventType, Flow, FlowConfig, Format, InboundConfig, Method, OutboundConfig, Status, Webhook,
};
use crate::ids;
use crate::paths::VariablePath;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The JSON path of the offending field, e.g. `security.secret` or `events[1]`.
    pub field: String,
    pub message: String,
    /// The field is well formed but conflicts with the webhook as it is (a field of the other
    /// flow, a change of flow, a secret to rotate on a webhook without one): the API answers
    /// 409, as a request its schema allows and the stored webhook refuses.
    pub conflict: bool,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
            conflict: false,
        }
    }

    /// A conflict with the stored webhook (see `conflict`).
    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            conflict: true,
            ..Self::new(field, message)
        }
    }
}

type Result<T> = std::result::Result<T, ValidationError>;

/// Deployment-level rules for webhooks.
#[derive(Clone, Debug)]
pub struct WebhookRules {
    /// Most webhooks one account may have.
    pub max_per_account: usize,
    /// Plain `http://` URLs: for local runs only; deployed stacks require https.
    pub allow_plain_http: bool,
    /// Where calls may go; a URL naming a refused IP address (or localhost) is refused when it
    /// is saved, not only when it is called.
    pub egress: crate::egress::EgressPolicy,
}

impl Default for WebhookRules {
    fn default() -> Self {
        Self {
            max_per_account: DEFAULT_MAX_PER_ACCOUNT,
            allow_plain_http: false,
            egress: Default::default(),
        }
    }
}

pub const DEFAULT_MAX_PER_ACCOUNT: usize = 100;
pub const NAME_MAX_CHARS: usize = 200;
pub const URL_MAX_LEN: usize = 2048;
pub const EMAIL_MAX_LEN: usize = 254;
pub const FALLBACK_MAX_BYTES: usize = 64 * 1024;
pub const VARIABLES_MAX: usize = 100;
pub const INBOUND_TIMEOUT_MS: (u32, u32, u32) = (100, 3_000, 10_000); // (min, default, max)
pub const OUTBOUND_TIMEOUT_MS: (u32, u32, u32) = (1_000, 15_000, 30_000);

/// Credentials as the user sent them: the HMAC secret may be left out (we generate one), and a
/// credential may be the masked value a read returned (meaning: keep the stored one).
#[derive(Clone, Debug, PartialEq)]
pub enum SecurityInput {
    None,
    Hmac { secret: Option<String> },
    Basic { username: String, password: String },
    Bearer { token: String },
    Header { name: String, value: String },
}

/// The fields a create or update body may carry; `None` means "not sent".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WebhookPatch {
    pub name: Option<String>,
    pub flow: Option<Flow>,
    pub format: Option<Format>,
    pub status: Option<Status>,
    pub url: Option<String>,
    pub notification_email: Option<String>,
    pub security: Option<SecurityInput>,
    pub method: Option<Method>,
    pub variables: Option<Vec<String>>,
    pub fallback_response: Option<Value>,
    pub events: Option<Vec<EventType>>,
    pub timeout_ms: Option<u32>,
    /// Read-only fields echoed back from a read (a GET body sent back as a PUT): `id` must match,
    /// `version` acts as the precondition, the timestamps are ignored. Refused on create.
    pub echoed_id: Option<String>,
    pub echoed_version: Option<u64>,
    pub echoed_timestamps: bool,
}

const INBOUND_ONLY: [&str; 3] = ["method", "variables", "fallbackResponse"];
const OUTBOUND_ONLY: [&str; 1] = ["events"];

impl WebhookPatch {
    /// Reads a request body. Checks each field's type and its own value; checks that depend on
    /// other fields (the flow, the URL rules) happen in `create` / `apply_to`.
    pub fn from_json(body: &Value) -> Result<Self> {
        let map = body
            .as_object()
            .ok_or_else(|| ValidationError::new("body", "must be a JSON object"))?;
        let mut p = WebhookPatch::default();
        for (key, value) in map {
            match key.as_str() {
                "name" => p.name = Some(parse_name(value)?),
                "flow" => p.flow = Some(parse_enum(value, "flow", Flow::parse, "\"inbound\" or \"outbound\"")?),
                "format" => {
                    p.format = Some(parse_enum(
                        value,
                        "format",
                        Format::parse,
                        "\"application/json\", \"application/xml\" or \"application/x-www-form-urlencoded\"",
                    )?)
                }
                "status" => {
                    p.status = Some(parse_enum(value, "status", Status::parse, "\"active\" or \"inactive\"")?)
                }
                "url" => p.url = Some(string(value, "url")?.to_string()),
                "notificationEmail" => p.notification_email = Some(parse_email(value)?),
                "security" => p.security = Some(parse_security(value)?),
                "method" => {
                    p.method = Some(parse_enum(
                        value,
                        "method",
                        |s| match s {
                            "GET" => Some(Method::Get),
                            "POST" => Some(Method::Post),
                            _ => None,
                        },
                        "\"GET\" or \"POST\"",
                    )?)
                }
                "variables" => p.variables = Some(parse_variables(value)?),
                "fallbackResponse" => p.fallback_response = Some(parse_fallback(value)?),
                "events" => p.events = Some(parse_events(value)?),
                "timeoutMs" => p.timeout_ms = Some(parse_u32(value, "timeoutMs")?),
                "id" => p.echoed_id = Some(string(value, "id")?.to_string()),
                "version" => {
                    p.echoed_version = Some(
                        whole_number(value).ok_or_else(|| ValidationError::new("version", "must be a whole number"))?,
                    )
                }
                "createdAt" | "updatedAt" => {
                    string(value, key)?;
                    p.echoed_timestamps = true;
                }
                other => return Err(unknown_field(other, "is not a field of a webhook")),
            }
        }
        Ok(p)
    }

    fn sent(&self, field: &str) -> bool {
        match field {
            "method" => self.method.is_some(),
            "variables" => self.variables.is_some(),
            "fallbackResponse" => self.fallback_response.is_some(),
            "events" => self.events.is_some(),
            _ => false,
        }
    }

    /// Refuses fields that belong to the other flow, by name.
    fn check_flow_fields(&self, flow: Flow) -> Result<()> {
        let (foreign, owner) = match flow {
            Flow::Inbound => (&OUTBOUND_ONLY[..], "outbound"),
            Flow::Outbound => (&INBOUND_ONLY[..], "inbound"),
        };
        match foreign.iter().find(|f| self.sent(f)) {
            Some(f) => Err(ValidationError::new(
                *f,
                format!("only {owner} webhooks have this field"),
            )),
            None => Ok(()),
        }
    }

    /// A new webhook from a create body.
    pub fn create(
        self,
        id: String,
        account_id: String,
        now: OffsetDateTime,
        rules: &WebhookRules,
    ) -> Result<Webhook> {
        if self.echoed_id.is_some() {
            return Err(ValidationError::new("id", "is set by the server"));
        }
        if self.echoed_version.is_some() {
            return Err(ValidationError::new("version", "is set by the server"));
        }
        if self.echoed_timestamps {
            return Err(ValidationError::new("createdAt", "is set by the server"));
        }
        let flow = self.flow.ok_or_else(|| required("flow"))?;
        self.check_flow_fields(flow)?;
        let name = self.name.clone().ok_or_else(|| required("name"))?;
        let url = self.url.clone().ok_or_else(|| required("url"))?;
        let notification_email = self
            .notification_email
            .clone()
            .ok_or_else(|| required("notificationEmail"))?;
        validate_url(&url, flow, rules)?;
        let security = resolve_security(
            self.security
                .clone()
                .unwrap_or(SecurityInput::Hmac { secret: None }),
            None,
        )?;
        let config = match flow {
            Flow::Inbound => FlowConfig::Inbound(InboundConfig {
                method: self.method.unwrap_or(Method::Get),
                variables: self.variables.clone().unwrap_or_default(),
                fallback_response: self
                    .fallback_response
                    .clone()
                    .ok_or_else(|| required("fallbackResponse"))?,
                timeout_ms: timeout(self.timeout_ms, INBOUND_TIMEOUT_MS)?,
            }),
            Flow::Outbound => FlowConfig::Outbound(OutboundConfig {
                events: self.events.clone().ok_or_else(|| required("events"))?,
                timeout_ms: timeout(self.timeout_ms, OUTBOUND_TIMEOUT_MS)?,
            }),
        };
        Ok(Webhook {
            id,
            account_id,
            name,
            format: self.format.unwrap_or(Format::Json),
            status: self.status.unwrap_or(Status::Active),
            url,
            notification_email,
            security,
            config,
            created_at: now,
            updated_at: now,
            version: 1,
        })
    }

    /// The webhook after a partial update: sent fields replace stored ones, the rest stay.
    /// The version is bumped; the store makes the write conditional on the old one.
    pub fn apply_to(
        self,
        current: &Webhook,
        now: OffsetDateTime,
        rules: &WebhookRules,
    ) -> Result<Webhook> {
        if let Some(id) = &self.echoed_id {
            if id != &current.id {
                return Err(ValidationError::conflict(
                    "id",
                    "does not match the webhook in the path",
                ));
            }
        }
        if let Some(flow) = self.flow {
            if flow != current.flow() {
                return Err(ValidationError::conflict(
                    "flow",
                    "cannot be changed; create a new webhook for the other flow",
                ));
            }
        }
        let flow = current.flow();
        // Well formed, and wrong only for this webhook's flow: a conflict with it.
        self.check_flow_fields(flow).map_err(into_conflict)?;
        // Stored credentials were given for the URL's origin; a URL on another origin gets
        // them only if they are sent again (else a key holder could send them anywhere).
        let moved = self
            .url
            .as_deref()
            .is_some_and(|url| !same_origin(url, &current.url));
        let mut next = current.clone();
        if let Some(v) = self.name {
            next.name = v;
        }
        if let Some(v) = self.format {
            next.format = v;
        }
        if let Some(v) = self.status {
            next.status = v;
        }
        if let Some(v) = self.url {
            // The stored URL sent back as it is (a read sent back) stands as it was accepted.
            if v != current.url {
                if flow == Flow::Outbound && v.contains("{{") {
                    // A URL an inbound webhook could have: a conflict with this one's flow.
                    validate_url(&v, Flow::Inbound, rules)?;
                    return Err(ValidationError::conflict(
                        "url",
                        "placeholders ({{...}}) are only for inbound webhooks",
                    ));
                }
                validate_url(&v, flow, rules)?;
            }
            next.url = v;
        }
        if let Some(v) = self.notification_email {
            next.notification_email = v;
        }
        if moved {
            next.security = rebind_security(self.security, &current.security)?;
        } else if let Some(v) = self.security {
            next.security = resolve_security(v, Some(&current.security))?;
        }
        match &mut next.config {
            FlowConfig::Inbound(c) => {
                if let Some(v) = self.method {
                    c.method = v;
                }
                if let Some(v) = self.variables {
                    c.variables = v;
                }
                if let Some(v) = self.fallback_response {
                    c.fallback_response = v;
                }
                if self.timeout_ms.is_some() {
                    c.timeout_ms = timeout(self.timeout_ms, INBOUND_TIMEOUT_MS)
                        .map_err(|e| for_this_flow(e, self.timeout_ms))?;
                }
            }
            FlowConfig::Outbound(c) => {
                if let Some(v) = self.events {
                    c.events = v;
                }
                if self.timeout_ms.is_some() {
                    c.timeout_ms = timeout(self.timeout_ms, OUTBOUND_TIMEOUT_MS)
                        .map_err(|e| for_this_flow(e, self.timeout_ms))?;
                }
            }
        }
        next.updated_at = now;
        next.version = current.version + 1;
        Ok(next)
    }
}

fn into_conflict(e: ValidationError) -> ValidationError {
    ValidationError::conflict(e.field, e.message)
}

/// A timeout another flow would take is a conflict with this webhook's flow; one no flow takes
/// is invalid.
fn for_this_flow(e: ValidationError, sent: Option<u32>) -> ValidationError {
    let any_flow = INBOUND_TIMEOUT_MS.0.min(OUTBOUND_TIMEOUT_MS.0)
        ..=INBOUND_TIMEOUT_MS.2.max(OUTBOUND_TIMEOUT_MS.2);
    match sent {
        Some(ms) if any_flow.contains(&ms) => into_conflict(e),
        _ => e,
    }
}

fn required(field: &str) -> ValidationError {
    ValidationError::new(field, "is required")
}

fn string<'a>(value: &'a Value, field: &str) -> Result<&'a str> {
    value
        .as_str()
        .ok_or_else(|| ValidationError::new(field, "must be a string"))
}

fn parse_enum<T>(
    value: &Value,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<T> {
    parse(string(value, field)?)
        .ok_or_else(|| ValidationError::new(field, format!("must be {expected}")))
}

/// A JSON number with no fraction: `3000` or `3000.0` (JSON Schema's `integer` takes both).
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        (f.fract() == 0.0 && (0.0..9_007_199_254_740_992.0).contains(&f)).then_some(f as u64)
    })
}

fn parse_u32(value: &Value, field: &str) -> Result<u32> {
    whole_number(value)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ValidationError::new(field, "must be a whole number of milliseconds"))
}

fn timeout(sent: Option<u32>, (min, default, max): (u32, u32, u32)) -> Result<u32> {
    match sent {
        None => Ok(default),
        Some(ms) if (min..=max).contains(&ms) => Ok(ms),
        Some(_) => Err(ValidationError::new(
            "timeoutMs",
            format!("must be between {min} and {max}"),
        )),
    }
}

fn parse_name(value: &Value) -> Result<String> {
    let name = string(value, "name")?;
    if name.trim() != name {
        return Err(ValidationError::new(
            "name",
            "must not start or end with a space",
        ));
    }
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS {
        return Err(ValidationError::new(
            "name",
            format!("must be 1 to {NAME_MAX_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// A pragmatic address check: what SES will accept as a destination, without the RFC 5322 corners.
fn parse_email(value: &Value) -> Result<String> {
    const FIELD: &str = "notificationEmail";
    let email = string(value, FIELD)?;
    let bad = || ValidationError::new(FIELD, "must be an e-mail address such as ops@example.com");
    if email.len() > EMAIL_MAX_LEN || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.len() >= 3
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
    if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
        return Err(bad());
    }
    Ok(email.to_string())
}

fn parse_variables(value: &Value) -> Result<Vec<String>> {
    let items = value
        .as_array()
        .ok_or_else(|| ValidationError::new("variables", "must be an array of strings"))?;
    if items.len() > VARIABLES_MAX {
        return Err(ValidationError::new(
            "variables",
            format!("must have at most {VARIABLES_MAX} entries"),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("variables[{i}]");
        let path = string(item, &field)?;
        VariablePath::parse(path)
            .map_err(|e| ValidationError::new(&field, format!("is not a variable path: {e}")))?;
        if out.iter().any(|p| p == path) {
            return Err(ValidationError::new(field, "is listed twice"));
        }
        out.push(path.to_string());
    }
    Ok(out)
}

fn parse_fallback(value: &Value) -> Result<Value> {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > FALLBACK_MAX_BYTES {
        return Err(ValidationError::new(
            "fallbackResponse",
            "must be at most 64 KiB of JSON",
        ));
    }
    Ok(value.clone())
}

fn parse_events(value: &Value) -> Result<Vec<EventType>> {
    let items = value
        .as_array()
        .ok_or_else(|| ValidationError::new("events", "must be an array of event names"))?;
    if items.is_empty() {
        return Err(ValidationError::new(
            "events",
            "must name at least one event",
        ));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("events[{i}]");
        let name = string(item, &field)?;
        let event = EventType::parse(name).ok_or_else(|| {
            let all: Vec<_> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            ValidationError::new(&field, format!("must be one of {}", all.join(", ")))
        })?;
        if !out.contains(&event) {
            out.push(event);
        }
    }
    Ok(out)
}

/// Absolute http(s) URL, at most 2048 bytes, no credentials in it. Inbound URLs may carry
/// `{{variable}}` placeholders in the path and query (never in the scheme or host).
pub fn validate_url(url: &str, flow: Flow, rules: &WebhookRules) -> Result<()> {
    const FIELD: &str = "url";
    const MARK: &str = "hooklineplaceholder";
    // URL parsers drop surrounding spaces and tabs or line breaks anywhere: what is stored must
    // be what is called.
    if url.trim() != url || url.chars().any(char::is_control) {
        return Err(ValidationError::new(
            FIELD,
            "must not hold control characters or start or end with a space",
        ));
    }
    if url.is_empty() || url.len() > URL_MAX_LEN {
        return Err(ValidationError::new(
            FIELD,
            format!("must be 1 to {URL_MAX_LEN} bytes"),
        ));
    }
    let mut concrete = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(start) = rest.find("{{") {
        if flow == Flow::Outbound {
            return Err(ValidationError::new(
                FIELD,
                "placeholders ({{...}}) are only for inbound webhooks",
            ));
        }
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| ValidationError::new(FIELD, "has an unclosed {{"))?;
        let name = rest[start + 2..start + end].trim();
        VariablePath::parse(name).map_err(|e| {
            ValidationError::new(
                FIELD,
                format!("placeholder {{{{{name}}}}} is not a variable path: {e}"),
            )
        })?;
        concrete.push_str(&rest[..start]);
        concrete.push_str(MARK);
        rest = &rest[start + end + 2..];
    }
    concrete.push_str(rest);
    let parsed = url::Url::parse(&concrete).map_err(|e| {
        ValidationError::new(FIELD, format!("must be an absolute http(s) URL ({e})"))
    })?;
    match parsed.scheme() {
        "https" => {}
        "http" if rules.allow_plain_http => {}
        "http" => return Err(ValidationError::new(FIELD, "must use https")),
        _ => return Err(ValidationError::new(FIELD, "must use https")),
    }
    let host = parsed.host_str().unwrap_or_default();
    if host.is_empty() {
        return Err(ValidationError::new(FIELD, "must name a host"));
    }
    if host.contains(MARK) {
        return Err(ValidationError::new(
            FIELD,
            "placeholders are not allowed in the host",
        ));
    }
    // `localhost` names loopback whatever a resolver says: judged as 127.0.0.1 when saved.
    let localhost = host == "localhost" || host.ends_with(".localhost");
    let literal = crate::egress::literal_ip(&parsed)
        .or(localhost.then_some(std::net::Ipv4Addr::LOCALHOST.into()));
    if let Some(why) = literal.and_then(|ip| rules.egress.refusal(ip)) {
        return Err(ValidationError::new(
            FIELD,
            format!("names {why}; Hookline does not call internal addresses"),
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(ValidationError::new(
            FIELD,
            "must not carry credentials; use security instead",
        ));
    }
    Ok(())
}

/// Whether two webhook URLs share scheme, host and port (the default port spelled or not).
/// Placeholders never stand in those parts, so each is read with its placeholders blanked.
/// A URL that does not parse shares no origin (validation has refused it by then anyway).
pub fn same_origin(a: &str, b: &str) -> bool {
    fn origin(url: &str) -> Option<url::Origin> {
        let concrete = url.replace("{{", "").replace("}}", "");
        let origin = url::Url::parse(&concrete).ok()?.origin();
        origin.is_tuple().then_some(origin)
    }
    matches!((origin(a), origin(b)), (Some(x), Some(y)) if x == y)
}

/// The security of a webhook whose URL moves to another origin: as if nothing were stored, so
/// no stored credential is kept. Rotated-out secrets go too. What would have meant "keep the
/// stored one" (a masked value, an HMAC type without its secret) is refused by name instead of
/// silently becoming something else.
fn rebind_security(sent: Option<SecurityInput>, current: &Security) -> Result<Security> {
    // What is missing is decided by what is stored: a conflict with it (a credential sent and
    // malformed stays a plain 400, from `resolve_security`).
    let carries = |field: &str| {
        ValidationError::conflict(
            field,
            "must be sent again: the URL moves to another origin (scheme, host or port), and \
             stored credentials only go to the origin they were given for",
        )
    };
    let Some(input) = sent else {
        return match current {
            Security::None => Ok(Security::None),
            Security::Hmac { .. } => Err(carries("security.secret")),
            Security::Basic { .. } => Err(carries("security.password")),
            Security::Bearer { .. } => Err(carries("security.token")),
            Security::Header { .. } => Err(carries("security.value")),
        };
    };
    let (given, field) = match &input {
        SecurityInput::None => return Ok(Security::None),
        SecurityInput::Hmac { secret: None } if !matches!(current, Security::Hmac { .. }) => {
            // Nothing to carry over: a new secret is generated, as on create.
            return resolve_security(input, None);
        }
        SecurityInput::Hmac { secret } => (secret.as_deref(), "security.secret"),
        SecurityInput::Basic { password, .. } => (Some(password.as_str()), "security.password"),
        SecurityInput::Bearer { token } => (Some(token.as_str()), "security.token"),
        SecurityInput::Header { value, .. } => (Some(value.as_str()), "security.value"),
    };
    match given {
        Some(credential) if !credential.contains("****") => resolve_security(input, None),
        _ => Err(carries(field)),
    }
}

fn parse_security(value: &Value) -> Result<SecurityInput> {
    let map = value
        .as_object()
        .ok_or_else(|| ValidationError::new("security", "must be an object with a type"))?;
    let kind = string(
        map.get("type").ok_or_else(|| required("security.type"))?,
        "security.type",
    )?;
    let allowed: &[&str] = match kind {
        "none" => &[],
        "hmac" => &["secret", "previousSecretExpiresAt"],
        "basic" => &["username", "password"],
        "bearer" => &["token"],
        "header" => &["name", "value"],
        _ => {
            return Err(ValidationError::new(
                "security.type",
                "must be \"none\", \"hmac\", \"basic\", \"bearer\" or \"header\"",
            ))
        }
    };
    if let Some(k) = map
        .keys()
        .find(|k| k.as_str() != "type" && !allowed.contains(&k.as_str()))
    {
        return Err(ValidationError::new(
            format!("security.{k}"),
            format!("is not a field of {kind} security"),
        ));
    }
    let field = |name: &str| -> Result<String> {
        let path = format!("security.{name}");
        let v = map.get(name).ok_or_else(|| required(&path))?;
        Ok(string(v, &path)?.to_string())
    };
    Ok(match kind {
        "none" => SecurityInput::None,
        "hmac" => SecurityInput::Hmac {
            secret: match map.get("secret") {
                None | Some(Value::Null) => None,
                Some(v) => Some(string(v, "security.secret")?.to_string()),
            },
        },
        "basic" => {
            let username = field("username")?;
            if username.is_empty()
                || username.chars().count() > 128
                || username.contains(':')
                || has_control(&username)
            {
                return Err(ValidationError::new(
                    "security.username",
                    "must be 1 to 128 characters, without ':' or control characters",
                ));
            }
            let password = field("password")?;
            check_credential(&password, "security.password", 256)?;
            SecurityInput::Basic { username, password }
        }
        "bearer" => {
            let token = field("token")?;
            check_credential(&token, "security.token", 4096)?;
            if token.contains(' ') {
                return Err(ValidationError::new(
                    "security.token",
                    "must not contain spaces",
                ));
            }
            SecurityInput::Bearer { token }
        }
        _ => {
            let name = field("name")?;
            check_header_name(&name)?;
            let value = field("value")?;
            check_credential(&value, "security.value", 4096)?;
            SecurityInput::Header { name, value }
        }
    })
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A credential that travels in a header: printable ASCII (spaces allowed), bounded.
fn check_credential(value: &str, field: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max || !value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(ValidationError::new(
            field,
            format!("must be 1 to {max} printable ASCII characters"),
        ));
    }
    Ok(())
}

/// Headers we set ourselves, which a custom auth header must not replace.
pub const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
    "x-acquire-signature",
    "hookline-signature",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "te",
];

fn check_header_name(name: &str) -> Result<()> {
    const FIELD: &str = "security.name";
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > 128 || !name.bytes().all(is_tchar) {
        return Err(ValidationError::new(
            FIELD,
            "must be an HTTP header name (letters, digits, '-')",
        ));
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err(ValidationError::new(
            FIELD,
            format!("{name} is set by Hookline and cannot be replaced"),
        ));
    }
    Ok(())
}

/// A user-chosen HMAC secret: a `whsec_` secret of 24-64 random bytes in base64 (as Standard
/// Webhooks libraries generate), or any 16-128 printable characters.
fn check_hmac_secret(secret: &str) -> Result<()> {
    use base64::Engine;
    const FIELD: &str = "security.secret";
    if let Some(b64) = secret.strip_prefix(ids::SECRET_PREFIX) {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| ValidationError::new(FIELD, "after whsec_ must be base64"))?;
        if !(24..=64).contains(&raw.len()) {
            return Err(ValidationError::new(FIELD, "must decode to 24 to 64 bytes"));
        }
        return Ok(());
    }
    if !(16..=128).contains(&secret.len()) || !secret.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(ValidationError::new(
            FIELD,
            "must be whsec_ + base64, or 16 to 128 printable characters without spaces",
        ));
    }
    Ok(())
}

/// A credential that is the masked form a read returned means "keep the stored one". One that
/// only looks masked, with nothing stored to keep, is a mistake worth naming.
fn keep_or_take(sent: String, stored: Option<&str>, updating: bool, field: &str) -> Result<String> {
    if let Some(stored) = stored {
        if secrets_equal(&sent, stored) || sent == mask(stored) {
            return Ok(stored.to_string());
        }
    }
    if sent.contains("****") {
        return Err(masked(field, updating));
    }
    Ok(sent)
}

/// A masked value with nothing to keep: on an update, a conflict with what is stored (a read
/// sent back is well formed); on a create, invalid.
fn masked(field: &str, updating: bool) -> ValidationError {
    let e = ValidationError::new(field, "is a masked value; send the credential itself");
    if updating {
        into_conflict(e)
    } else {
        e
    }
}

/// The stored security from what was sent and what is stored now.
pub(crate) fn resolve_security(
    input: SecurityInput,
    current: Option<&Security>,
) -> Result<Security> {
    Ok(match input {
        SecurityInput::None => Security::None,
        SecurityInput::Hmac { secret } => match (secret, current) {
            (None, Some(Security::Hmac { secret, previous })) => Security::Hmac {
                secret: secret.clone(),
                previous: previous.clone(),
            },
            (None, _) => Security::Hmac {
                secret: ids::new_hmac_secret(),
                previous: vec![],
            },
            (Some(sent), Some(Security::Hmac { secret, previous }))
                if secrets_equal(&sent, secret) || sent == mask(secret) =>
            {
                Security::Hmac {
                    secret: secret.clone(),
                    previous: previous.clone(),
                }
            }
            (Some(sent), _) => {
                if sent.contains("****") {
                    return Err(masked("security.secret", current.is_some()));
                }
                check_hmac_secret(&sent)?;
                Security::Hmac {
                    secret: sent,
                    previous: vec![],
                }
            }
        },
        SecurityInput::Basic { username, password } => {
            let stored = match current {
                Some(Security::Basic { password, .. }) => Some(password.as_str()),
                _ => None,
            };
            Security::Basic {
                username,
                password: keep_or_take(password, stored, current.is_some(), "security.password")?,
            }
        }
        SecurityInput::Bearer { token } => {
            let stored = match current {
                Some(Security::Bearer { token }) => Some(token.as_str()),
                _ => None,
            };
            Security::Bearer {
                token: keep_or_take(token, stored, current.is_some(), "security.token")?,
            }
        }
        SecurityInput::Header { name, value } => {
            let stored = match current {
                Some(Security::Header { value, .. }) => Some(value.as_str()),
                _ => None,
            };
            Security::Header {
                name,
                value: keep_or_take(value, stored, current.is_some(), "security.value")?,
            }
        }
    })
}

/// Refuses, by name, a field outside `known`: for the API's smaller bodies.
pub fn reject_unknown(map: &Map<String, Value>, known: &[&str]) -> Result<()> {
    match map.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(unknown_field(k, "is not a known field")),
        None => Ok(()),
    }
}

/// A field the body may not have, by name. An empty name cannot name anything, so the error
/// names the body instead (an empty `field` would tell the client nothing).
fn unknown_field(key: &str, message: &str) -> ValidationError {
    if key.is_empty() {
        ValidationError::new(
            "body",
            format!("has a field with an empty name, which {message}"),
        )
    } else {
        ValidationError::new(key, message)
    }
}

/// How long a rotated-out HMAC secret keeps signing, so receivers can switch without a gap.
pub const SECRET_OVERLAP: time::Duration = time::Duration::hours(24);
/// Rotated-out secrets kept at most (each one adds a signature to every request).
pub const MAX_PREVIOUS_SECRETS: usize = 3;

impl Webhook {
    /// The webhook with a new HMAC secret (`sent`, or a generated one); the current secret
    /// keeps signing for `SECRET_OVERLAP`. Only for HMAC security.
    pub fn rotated(&self, sent: Option<String>, now: OffsetDateTime) -> Result<Webhook> {
        let Security::Hmac { secret, previous } = &self.security else {
            return Err(ValidationError::conflict(
                "security.type",
                "only webhooks with hmac security have a secret to rotate",
            ));
        };
        let new_secret = match sent {
            Some(s) => {
                if s.contains("****") {
                    return Err(ValidationError::new(
                        "secret",
                        "is a masked value; send the secret itself",
                    ));
                }
                check_hmac_secret(&s)?;
                if &s == secret {
                    return Err(ValidationError::conflict("secret", "is the current secret"));
                }
                s
            }
            None => ids::new_hmac_secret(),
        };
        let mut kept: Vec<_> = previous
            .iter()
            .filter(|p| p.expires_at > now)
            .cloned()
            .collect();
        kept.push(super::PreviousSecret {
            secret: secret.clone(),
            expires_at: now + SECRET_OVERLAP,
        });
        let excess = kept.len().saturating_sub(MAX_PREVIOUS_SECRETS);
        kept.drain(..excess);
        let mut next = self.clone();
        next.security = Security::Hmac {
            secret: new_secret,
            previous: kept,
        };
        next.updated_at = now;
        next.version = self.version + 1;
        Ok(next)
    }
}
