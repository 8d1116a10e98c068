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
/// bodies (with webhook secrets in them) at debug and trace, and for the Lambda runtime, which
/// logs each raw invocation event (API keys in its headers) at trace, whatever level is asked
/// for.
pub fn filter(level: &str) -> EnvFilter {
    let quiet = [
        "lambda_runtime",
        "lambda_runtime_api_client",
        "lambda_http",
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

#[cfg(test)]
mod tests {
    use tracing::Level;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn the_runtime_and_the_sdks_stay_at_warn_whatever_level_is_asked() {
        for level in ["trace", "debug", "lambda_runtime=trace", "info"] {
            let subscriber = tracing_subscriber::registry().with(super::filter(level));
            tracing::subscriber::with_default(subscriber, || {
                assert!(
                    !tracing::enabled!(target: "lambda_runtime", Level::TRACE),
                    "{level}"
                );
                assert!(
                    !tracing::enabled!(target: "lambda_runtime::layers::trace", Level::DEBUG),
                    "{level}"
                );
                assert!(
                    !tracing::enabled!(target: "lambda_http", Level::DEBUG),
                    "{level}"
                );
                assert!(
                    !tracing::enabled!(target: "aws_smithy_runtime", Level::DEBUG),
                    "{level}"
                );
                assert!(
                    tracing::enabled!(target: "lambda_runtime", Level::WARN),
                    "{level}"
                );
            });
        }
        // Our own code follows the level asked for.
        let subscriber = tracing_subscriber::registry().with(super::filter("debug"));
        tracing::subscriber::with_default(subscriber, || {
            assert!(tracing::enabled!(target: "hookline::outbound", Level::DEBUG));
        });
    }
}
