//! Structured JSON logs, one line per event, at the level `HOOKLINE_LOG_LEVEL` (or `RUST_LOG`)
//! sets. Nothing logged here may carry a credential: log ids, never bodies.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let level = std::env::var("HOOKLINE_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(filter(&level))
        .try_init();
}

/// `level` for our code; warn at most for the AWS SDK and the HTTP stack, which log request
/// bodies (with webhook secrets in them) at debug and trace, whatever level is asked for.
pub fn filter(level: &str) -> EnvFilter {
    let quiet = [
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "aws_smithy_http_client",
        "aws_smithy_types",
        "aws_sdk_dynamodb",
        "aws_sdk_sqs",
        "aws_sdk_sesv2",
        "aws_config",
        "aws_runtime",
        "hyper",
        "hyper_util",
        "h2",
        "rustls",
        "reqwest",
    ];
    let directives: Vec<String> = quiet.iter().map(|t| format!("{t}=warn")).collect();
    EnvFilter::new(format!("{level},{}", directives.join(",")))
}
