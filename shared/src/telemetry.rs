//! Structured JSON logs, one line per event, at the level `HOOKLINE_LOG_LEVEL` (or `RUST_LOG`)
//! sets. Nothing logged here may carry a credential: log ids, never bodies.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = std::env::var("HOOKLINE_LOG_LEVEL")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok())
        .unwrap_or_else(|| "info".to_string());
    // The AWS SDK logs request bodies at trace level; keep it at warn whatever the level asked.
    let filter = EnvFilter::new(format!("{filter},aws_smithy_runtime=warn,aws_sdk_dynamodb=warn,hyper=warn"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .with_env_filter(filter)
        .try_init();
}
