//! The local stack's SQS event source: long-polls queues in moto and invokes a function through
//! `cargo lambda watch` with each batch as a real SQS event, deleting what the function handled
//! and leaving its `batchItemFailures` on the queue, as Lambda's event source mapping does.
//!
//!   hookline-local-poller --invoke http://127.0.0.1:9000 --function outbound-delivery \
//!       --queue URL [--queue URL]...
//!
//! Runs until stopped (`make run` stops it with the rest).

use std::process::ExitCode;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use hookline::config::aws_sdk_config;
use hookline::local::{pump_once, queue_arn, PumpError};

struct Options {
    invoke: String,
    function: String,
    queues: Vec<String>,
}

fn options() -> Result<Options, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mut invoke, mut function, mut queues) = (None, None, Vec::new());
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--invoke" => invoke = Some(value),
            "--function" => function = Some(value),
            "--queue" => queues.push(value),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if queues.is_empty() {
        return Err("at least one --queue is required".into());
    }
    Ok(Options {
        invoke: invoke.ok_or("--invoke is required")?,
        function: function.ok_or("--function is required")?,
        queues,
    })
}

/// One invocation of the function through the Lambda invoke API `cargo lambda watch` serves.
async fn invoke(
    http: &reqwest::Client,
    url: &str,
    event: SqsEvent,
) -> Result<SqsBatchResponse, PumpError> {
    let response = http
        .post(url)
        .json(&event)
        .send()
        .await
        .map_err(|e| PumpError(format!("invoking the function: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| PumpError(e.to_string()))?;
    if !status.is_success() {
        return Err(PumpError(format!("the function answered {status}: {text}")));
    }
    serde_json::from_str(&text).map_err(|e| {
        PumpError(format!(
            "the function's answer is not a batch response: {e}: {text}"
        ))
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hookline-local-poller: {e}");
            return ExitCode::FAILURE;
        }
    };
    let sqs = aws_sdk_sqs::Client::new(&aws_sdk_config().await);
    // The first invocation compiles the function: give it time.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(900))
        .build()
        .expect("client");
    let url = format!(
        "{}/2015-03-31/functions/{}/invocations",
        options.invoke.trim_end_matches('/'),
        options.function
    );
    let mut arns = Vec::new();
    for queue in &options.queues {
        loop {
            match queue_arn(&sqs, queue).await {
                Ok(arn) => break arns.push(arn),
                Err(e) => {
                    eprintln!("hookline-local-poller: waiting for {queue}: {e}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }
    eprintln!(
        "hookline-local-poller: feeding {} queue(s) to {}",
        options.queues.len(),
        options.function
    );
    loop {
        for (queue, arn) in options.queues.iter().zip(&arns) {
            match pump_once(&sqs, queue, arn, 1, None, |event| invoke(&http, &url, event)).await {
                Ok((0, _)) => {}
                Ok((handed, kept)) => eprintln!("hookline-local-poller: {handed} message(s) from {queue}, {kept} kept for later"),
                Err(e) => {
                    eprintln!("hookline-local-poller: {e}");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        }
    }
}
