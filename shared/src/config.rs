//! Configuration read from the environment once at start, and the AWS SDK set-up.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {name}: {message}")]
    Invalid { name: &'static str, message: String },
}

pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// `true`/`false`/`1`/`0`; absent means `default`.
pub fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(v) => match v.trim().to_ascii_lowercase().as_str() {
            "" => Ok(default),
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            other => Err(ConfigError::Invalid {
                name,
                message: format!("expected true or false, got {other:?}"),
            }),
        },
    }
}

/// The SDK configuration every function uses: region, credentials and endpoint from the
/// standard chain (so `AWS_ENDPOINT_URL` points the same binary at the local stack), with
/// timeouts so no AWS call can hang a function.
pub async fn aws_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(sdk_timeouts())
        .load()
        .await
}

/// Bounds on every AWS call: connect 2 s, each try 5 s, the call with its retries 12 s.
pub fn sdk_timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(2))
        .operation_attempt_timeout(Duration::from_secs(5))
        .operation_timeout(Duration::from_secs(12))
        .build()
}

/// Milliseconds in `min..=max`; absent means `default`.
pub fn millis(
    name: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<Duration, ConfigError> {
    let ms = match std::env::var(name) {
        Err(_) => default,
        Ok(v) if v.trim().is_empty() => default,
        Ok(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            message: format!("expected milliseconds, got {v:?}"),
        })?,
    };
    if !(min..=max).contains(&ms) {
        return Err(ConfigError::Invalid {
            name,
            message: format!("must be {min} to {max} ms"),
        });
    }
    Ok(Duration::from_millis(ms))
}

/// A whole number in `min..=max`; absent means `default`.
pub fn number(name: &'static str, default: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    let n = match std::env::var(name) {
        Err(_) => default,
        Ok(v) if v.trim().is_empty() => default,
        Ok(v) => v.trim().parse().map_err(|_| ConfigError::Invalid {
            name,
            message: format!("expected a whole number, got {v:?}"),
        })?,
    };
    if !(min..=max).contains(&n) {
        return Err(ConfigError::Invalid {
            name,
            message: format!("must be {min} to {max}"),
        });
    }
    Ok(n)
}

/// Failure e-mails per account per clock hour (`HOOKLINE_EMAILS_PER_HOUR`, 0 to 10,000): the
/// budget both e-mailing functions share through the table.
pub fn emails_per_hour() -> Result<u32, ConfigError> {
    let default = crate::notify::DEFAULT_EMAILS_PER_HOUR.into();
    let n = number("HOOKLINE_EMAILS_PER_HOUR", default, 0, 10_000)?;
    Ok(u32::try_from(n).expect("at most 10,000"))
}

/// What seals webhook credentials at rest: KMS data keys under `HOOKLINE_KMS_KEY_ID` (a key
/// id, ARN or `alias/...`). Required: no deployed function writes credentials unsealed.
pub fn credentials_sealer(
    sdk: &aws_config::SdkConfig,
) -> Result<std::sync::Arc<crate::sealing::Sealer>, ConfigError> {
    let key_id = required("HOOKLINE_KMS_KEY_ID")?;
    let keys = crate::sealing::KmsKeys::new(aws_sdk_kms::Client::new(sdk), key_id);
    Ok(std::sync::Arc::new(crate::sealing::Sealer::new(keys)))
}

/// Resolves one account may have in flight (`HOOKLINE_RESOLVE_CONCURRENCY`, 1 to 1,000).
pub fn resolve_concurrency() -> Result<u32, ConfigError> {
    let default = crate::inbound::DEFAULT_RESOLVE_CONCURRENCY.into();
    let n = number("HOOKLINE_RESOLVE_CONCURRENCY", default, 1, 1_000)?;
    Ok(u32::try_from(n).expect("at most 1,000"))
}

/// Settings of the HTTP functions (management API, inbound resolver).
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub table_name: String,
    /// Plain-http webhook URLs (local runs only).
    pub allow_plain_http: bool,
    /// Bounds a whole inbound resolution; must stay below API Gateway's 29 s with room for the
    /// log write and the e-mail.
    pub resolve_deadline: Duration,
    /// Most webhooks one account may have.
    pub max_webhooks_per_account: usize,
}

/// Where outbound calls may go beyond public addresses: `HOOKLINE_EGRESS_ALLOW_CIDRS`, a comma-
/// separated CIDR list (the local stack sets `127.0.0.1/32`); empty means public addresses only.
pub fn egress_policy() -> Result<crate::egress::EgressPolicy, ConfigError> {
    let list = std::env::var("HOOKLINE_EGRESS_ALLOW_CIDRS").unwrap_or_default();
    crate::egress::EgressPolicy::from_list(&list).map_err(|message| ConfigError::Invalid {
        name: "HOOKLINE_EGRESS_ALLOW_CIDRS",
        message,
    })
}

/// Settings of the outbound delivery function.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    pub table_name: String,
    /// The waits between attempts.
    pub retry_schedule: Vec<Duration>,
}

impl DeliveryConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("HOOKLINE_TABLE_NAME")?,
            retry_schedule: match std::env::var("HOOKLINE_RETRY_SCHEDULE") {
                Ok(v) if !v.trim().is_empty() => {
                    parse_schedule(&v).map_err(|message| ConfigError::Invalid {
                        name: "HOOKLINE_RETRY_SCHEDULE",
                        message,
                    })?
                }
                _ => crate::outbound::default_schedule(),
            },
        })
    }
}

/// `5s,5m,30m,2h,...`: the waits between attempts, each 1 s to 24 h, at most 20 of them.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    let waits = text
        .split(',')
        .map(|part| {
            let part = part.trim();
            let (number, unit) = part.split_at(
                part.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(part.len()),
            );
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{part:?} is not like 30s, 5m or 2h"))?;
            let secs = match unit {
                "s" => n,
                "m" => n * 60,
                "h" => n * 3600,
                _ => return Err(format!("{part:?} is not like 30s, 5m or 2h")),
            };
            if !(1..=86_400).contains(&secs) {
                return Err(format!("{part:?} must be 1 s to 24 h"));
            }
            Ok(Duration::from_secs(secs))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if waits.len() > 20 {
        return Err("at most 20 retries".into());
    }
    Ok(waits)
}

/// The deliveries queues: `HOOKLINE_DELIVERIES_QUEUE_URL`, and the slow lane's
/// `HOOKLINE_SLOW_DELIVERIES_QUEUE_URL` (without it, slow work shares the one queue). Neither
/// may be the events queue (`HOOKLINE_EVENTS_QUEUE_URL`, when set): publishers write there,
/// and a record from a deliveries queue is trusted to name any URL and credentials.
///
/// Parking long waits (`queue::park`) needs the function's most instances at once: its event
/// sources' `MaximumConcurrency`, `HOOKLINE_DELIVERY_MAX_CONCURRENCY` for the events queue and
/// the prompt lane each and `HOOKLINE_SLOW_LANE_MAX_CONCURRENCY` for the slow lane (the
/// template sets both), and the queues' in-flight quota, `HOOKLINE_SQS_IN_FLIGHT_QUOTA` (SQS's
/// 120,000 unless AWS support raised it).
pub fn delivery_queue(
    client: aws_sdk_sqs::Client,
) -> Result<crate::queue::SqsDeliveryQueue, ConfigError> {
    let prompt = required("HOOKLINE_DELIVERIES_QUEUE_URL")?;
    let slow = std::env::var("HOOKLINE_SLOW_DELIVERIES_QUEUE_URL")
        .ok()
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty());
    let events = std::env::var("HOOKLINE_EVENTS_QUEUE_URL").unwrap_or_default();
    check_queues(&prompt, slow.as_deref(), &events)?;
    let gauge = crate::queue::InFlightGauge::new(
        number(
            "HOOKLINE_SQS_IN_FLIGHT_QUOTA",
            crate::queue::IN_FLIGHT_QUOTA,
            100,
            100_000_000,
        )?,
        2 * number("HOOKLINE_DELIVERY_MAX_CONCURRENCY", 10, 1, 10_000)?
            + number("HOOKLINE_SLOW_LANE_MAX_CONCURRENCY", 2, 1, 10_000)?,
    );
    let queue = crate::queue::SqsDeliveryQueue::new(client, prompt).with_in_flight_gauge(gauge);
    Ok(match slow {
        Some(slow) => queue.with_slow_lane(slow),
        None => queue,
    })
}

fn check_queues(prompt: &str, slow: Option<&str>, events: &str) -> Result<(), ConfigError> {
    use crate::queue::queue_id;
    if events.trim().is_empty() {
        return Ok(());
    }
    for (name, url) in [
        ("HOOKLINE_DELIVERIES_QUEUE_URL", Some(prompt)),
        ("HOOKLINE_SLOW_DELIVERIES_QUEUE_URL", slow),
    ] {
        if url.is_some_and(|url| queue_id(url) == queue_id(events.trim())) {
            return Err(ConfigError::Invalid {
                name,
                message: "is the events queue; deliveries need a queue of their own".into(),
            });
        }
    }
    Ok(())
}

/// The queue `POST /api/v1/events` publishes to (management API only).
pub fn events_queue_url() -> Result<String, ConfigError> {
    required("HOOKLINE_EVENTS_QUEUE_URL")
}

impl ApiConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            table_name: required("HOOKLINE_TABLE_NAME")?,
            allow_plain_http: flag("HOOKLINE_ALLOW_PLAIN_HTTP", false)?,
            resolve_deadline: millis("HOOKLINE_RESOLVE_DEADLINE_MS", 8_000, 500, 25_000)?,
            max_webhooks_per_account: match std::env::var("HOOKLINE_MAX_WEBHOOKS_PER_ACCOUNT") {
                Ok(v) if !v.trim().is_empty() => v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or(ConfigError::Invalid {
                        name: "HOOKLINE_MAX_WEBHOOKS_PER_ACCOUNT",
                        message: format!("expected 1 to 10000, got {v:?}"),
                    })?,
                _ => crate::model::DEFAULT_MAX_PER_ACCOUNT,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_deliveries_queue_may_be_the_events_queue() {
        let base = "https://sqs.us-east-1.amazonaws.com/123456789012";
        let (events, prompt, slow) = (
            format!("{base}/events"),
            format!("{base}/deliveries"),
            format!("{base}/slow"),
        );
        assert!(check_queues(&prompt, Some(&slow), &events).is_ok());
        assert!(check_queues(&prompt, None, &events).is_ok());
        assert!(
            check_queues(&prompt, Some(&prompt), &events).is_ok(),
            "one queue for both lanes"
        );
        assert!(
            check_queues(&prompt, Some(&slow), "").is_ok(),
            "events URL not given"
        );
        let err = check_queues(&prompt, Some(&events), &events).unwrap_err();
        assert!(
            err.to_string()
                .contains("HOOKLINE_SLOW_DELIVERIES_QUEUE_URL"),
            "{err}"
        );
        let err = check_queues(&events, None, &events).unwrap_err();
        assert!(
            err.to_string().contains("HOOKLINE_DELIVERIES_QUEUE_URL"),
            "{err}"
        );
    }

    #[test]
    fn retry_schedules_parse_from_text() {
        let default = crate::outbound::default_schedule();
        assert_eq!(
            parse_schedule("5s,5m,30m,2h,5h,10h,14h,20h,24h").unwrap(),
            default
        );
        assert_eq!(
            parse_schedule(" 1s , 90s ").unwrap(),
            vec![Duration::from_secs(1), Duration::from_secs(90)]
        );
        for bad in [
            "",
            "5",
            "5d",
            "0s",
            "25h",
            "x",
            "5s,,5m",
            &vec!["1s"; 21].join(","),
        ] {
            assert!(parse_schedule(bad).is_err(), "{bad:?}");
        }
    }
}
