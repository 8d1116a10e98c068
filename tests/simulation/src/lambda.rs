//! Lambda's SQS event source mapping ("Using Lambda with Amazon SQS"): pollers receive batches
//! of up to `batch_size` while fewer than `max_concurrency` invocations run; an invocation that
//! returns deletes every message it did not list in `batchItemFailures`
//! (`ReportBatchItemFailures`); one that fails or passes the function timeout is killed where
//! it stands and deletes nothing, so its whole batch comes back after the visibility timeout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use futures::future::{select, Either};
use hookline::outbound::Deliverer;

use crate::dynamo::SimTable;
use crate::mail::SimMailer;
use crate::receivers::Receivers;
use crate::sqs::{Queue, SimQueues};
use crate::world::World;

pub type SimEngine = Deliverer<SimTable, Receivers, SimMailer, SimQueues>;

#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// `BatchSize`: above 10 the poller makes several receives to fill a batch.
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds` (ms): a batch not yet full waits this long for more.
    pub batching_window_ms: u64,
    /// `ScalingConfig.MaximumConcurrency`, per queue.
    pub max_concurrency: usize,
    /// The function timeout (ms).
    pub timeout_ms: u64,
}

#[derive(Default)]
pub struct InvocationStats {
    pub invocations: u64,
    pub timeouts: u64,
    pub killed: u64,
    pub records: u64,
}

/// One queue's event source: `max_concurrency` pollers, each receiving a batch and invoking
/// the function with it, one invocation at a time. They poll independently, as Lambda's do:
/// a burst of messages is split among the pollers that are free, 10 per receive, rather than
/// handed to one of them as a whole batch (a strict model: one account's burst reaches every
/// free instance). Each poller's invocations run in one container of their own: its engine
/// (`container`), with what that container keeps in memory. Runs until the executor finds
/// nothing left to do.
pub async fn poll(
    world: World,
    queue: Arc<Queue>,
    container: impl Fn() -> Arc<SimEngine>,
    config: FunctionConfig,
    stats: Arc<Mutex<InvocationStats>>,
) {
    let pollers = (0..config.max_concurrency.max(1)).map(|_| {
        poller(
            world.clone(),
            queue.clone(),
            container(),
            config.clone(),
            stats.clone(),
        )
    });
    futures::future::join_all(pollers).await;
}

/// A `ReceiveMessage` call's round trip (1-8 ms), after which it takes what is visible: pollers
/// that wake together take turns.
async fn receive(world: &World, queue: &Queue, max: usize) -> Vec<crate::sqs::Received> {
    world
        .scheduler
        .sleep(Duration::from_millis(world.rng.between(1, 8)))
        .await;
    queue.receive(max.min(10))
}

async fn poller(
    world: World,
    queue: Arc<Queue>,
    deliverer: Arc<SimEngine>,
    config: FunctionConfig,
    stats: Arc<Mutex<InvocationStats>>,
) {
    let wake = queue.wake.clone();
    loop {
        let generation = wake.generation();
        if !queue.has_visible() {
            let next = queue.next_visible_at();
            wake.wait(generation, &world.scheduler, next).await;
            continue;
        }
        let mut batch = receive(&world, &queue, config.batch_size).await;
        if batch.is_empty() {
            if queue.at_in_flight_limit() {
                // The long poll returns empty at the in-flight quota, after its 20 s.
                let until = world.now_ms() + crate::sqs::LONG_POLL_MS;
                world.scheduler.sleep_until(until).await;
            }
            continue; // or another poller took them
        }
        // Filled by more receives (10 messages each at most) while messages are there, and
        // for up to the batching window since the first came.
        let window_ends = world.now_ms() + config.batching_window_ms;
        while batch.len() < config.batch_size {
            let generation = wake.generation();
            let more = receive(&world, &queue, config.batch_size - batch.len()).await;
            if !more.is_empty() {
                batch.extend(more);
                continue;
            }
            if world.now_ms() >= window_ends {
                break;
            }
            let next = queue
                .next_visible_at()
                .map_or(window_ends, |at| at.min(window_ends));
            wake.wait(generation, &world.scheduler, Some(next)).await;
        }
        invoke(&world, &queue, &deliverer, &config, &stats, batch).await;
        // What this invocation left may be waiting for a free poller.
        wake.notify();
    }
}

/// One invocation with `batch`: deletes what it did not keep; killed at the function timeout.
async fn invoke(
    world: &World,
    queue: &Arc<Queue>,
    deliverer: &Arc<SimEngine>,
    config: &FunctionConfig,
    stats: &Arc<Mutex<InvocationStats>>,
    batch: Vec<crate::sqs::Received>,
) {
    let records = batch
        .iter()
        .map(|m| {
            let mut record = SqsMessage::default();
            record.message_id = Some(m.message_id.clone());
            record.receipt_handle = Some(m.receipt.clone());
            // As Lambda names the queue a record came from.
            record.event_source_arn =
                Some(format!("arn:aws:sqs:us-east-1:000000000000:{}", queue.name));
            record.body = Some(m.body.clone());
            record.attributes.insert(
                "ApproximateReceiveCount".into(),
                m.receive_count.to_string(),
            );
            record
                .attributes
                // Epoch milliseconds, as SQS gives it.
                .insert(
                    "SentTimestamp".into(),
                    ((crate::world::EPOCH.unix_timestamp_nanos() / 1_000_000) + m.sent_at as i128)
                        .to_string(),
                );
            record
        })
        .collect();
    let mut event = SqsEvent::default();
    event.records = records;
    let d = deliverer.clone();
    // The poller hands the batch over a few ms after the receive; sometimes a cold start
    // takes a second.
    let start = if world.rng.chance(0.05) {
        world.rng.between(200, 1_500)
    } else {
        world.rng.between(1, 30)
    };
    let s = world.scheduler.clone();
    let timeout = config.timeout_ms;
    // Lambda's deadline counts from the invoke.
    let deadline = world.now() + Duration::from_millis(timeout);
    let (task, handle) = world.scheduler.spawn(async move {
        s.sleep(Duration::from_millis(start)).await;
        outbound_delivery::handle_batch(&d, event, deadline).await
    });
    world.register_invocation(task);
    stats.lock().unwrap().invocations += 1;
    stats.lock().unwrap().records += batch.len() as u64;
    let timer = Box::pin(world.scheduler.sleep(Duration::from_millis(timeout)));
    let answer = match select(handle, timer).await {
        Either::Left((answer, _)) => answer,
        Either::Right((_, _)) => {
            world.count("lambda.timeout");
            world.trace(|| format!("LAMBDA invocation {task} timed out"));
            world.kill(task);
            stats.lock().unwrap().timeouts += 1;
            None
        }
    };
    world.end_invocation(task);
    match answer {
        Some(response) => {
            let kept: Vec<&str> = response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.as_str())
                .collect();
            for m in &batch {
                if !kept.contains(&m.message_id.as_str()) {
                    queue.delete(&m.receipt);
                }
            }
        }
        None => stats.lock().unwrap().killed += 1,
    }
}
