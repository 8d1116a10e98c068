//! A deterministic simulation of outbound delivery: the real engine (`outbound_delivery::
//! handle_batch` and `hookline::outbound::Deliverer`, as Lambda runs them) against strict
//! models of SQS, Lambda's SQS event source, DynamoDB, SES and the customers' receivers, on one
//! simulated clock and one seeded random source. A seed replays a run exactly; days of
//! simulated time take milliseconds. See RELIABILITY.md.
//!
//! | module      | what it models                                                  |
//! |-------------|-----------------------------------------------------------------|
//! | `executor`  | tasks on simulated time; killing a task at an await point       |
//! | `world`     | the clock, the seed, the faults and their tally, the trace      |
//! | `sqs`       | standard queues with redrive policies                           |
//! | `lambda`    | the SQS event source mapping and the function timeout           |
//! | `dynamo`    | the table behind the store traits                               |
//! | `mail`      | SES                                                             |
//! | `receivers` | the customers' webhook URLs                                     |
//! | `workload`  | webhooks, events and edits                                      |
//! | `invariants`| what must hold at the end of every run                          |

pub mod dynamo;
pub mod executor;
pub mod invariants;
pub mod lambda;
pub mod mail;
pub mod receivers;
pub mod rng;
pub mod sqs;
pub mod workload;
pub mod world;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hookline::events::Event;
use hookline::model::Status;
use hookline::outbound::DeliverySettings;

use crate::dynamo::SimTable;
use crate::executor::Executor;
use crate::lambda::{FunctionConfig, InvocationStats};
use crate::mail::SimMailer;
use crate::receivers::Receivers;
use crate::sqs::{Queue, SimQueues};
use crate::workload::{Action, Shape};
use crate::world::{Faults, SimClock, World};

#[derive(Clone, Debug)]
pub struct Config {
    pub shape: Shape,
    pub faults: Faults,
    /// The events queue's event source, and the function.
    pub function: FunctionConfig,
    /// The deliveries queue's batches: (`BatchSize`, `MaximumBatchingWindowInSeconds` in ms).
    pub delivery_batches: (usize, u64),
    /// The queues as infra/template.yaml makes them: (visibility timeout s, maxReceiveCount).
    pub events_queue: (u32, u32),
    pub deliveries_queue: (u32, u32),
    /// The slow lane's event source's `MaximumConcurrency` (the template's
    /// `SlowLaneMaxConcurrency`); its queue is made as the deliveries queue.
    pub slow_lane_concurrency: usize,
    /// Each deliveries queue's in-flight quota; `None` draws it per seed: SQS's 120,000 for
    /// most seeds, 20-200 for one in ten (a run lives at the quota) and 200-2,000 for about
    /// another one in ten (long waits are hidden and sent again in turn).
    pub in_flight_limit: Option<usize>,
    pub settings: DeliverySettings,
    /// A run stops here even with work left (a violation).
    pub horizon_ms: u64,
    /// How late an attempt may be after its due time before it counts as lost.
    pub lateness_slack_ms: u64,
    pub trace: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            shape: Shape::default(),
            faults: Faults::all(),
            // infra/template.yaml: BatchSize 10 (events), 100 with a 1 s window (deliveries),
            // MaximumConcurrency 10, Timeout 120.
            function: FunctionConfig {
                batch_size: 10,
                batching_window_ms: 0,
                max_concurrency: 10,
                timeout_ms: 120_000,
            },
            delivery_batches: (100, 1_000),
            events_queue: (720, 20),
            deliveries_queue: (720, 20),
            slow_lane_concurrency: 2,
            in_flight_limit: None,
            settings: DeliverySettings::default(),
            horizon_ms: 8 * 86_400_000,
            lateness_slack_ms: 2 * 3_600_000,
            trace: false,
        }
    }
}

/// What one run did and what it broke.
#[derive(Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub simulated_ms: u64,
    pub events: usize,
    pub deliveries: usize,
    pub attempts: usize,
    pub faults: BTreeMap<&'static str, u64>,
    /// Conditions the models met that were not injected (`World::count`).
    pub conditions: BTreeMap<&'static str, u64>,
    pub violations: Vec<String>,
    pub trace: Vec<String>,
    pub max_lateness_ms: u64,
    pub largest_item: usize,
    pub dynamo_writes: u64,
    pub sqs_sends: u64,
    pub invocations: u64,
    /// The table's deliveries, SES's e-mails and the dead-letter queues at the end.
    pub final_deliveries: Vec<hookline::model::Delivery>,
    pub emails: Vec<mail::SentMail>,
    pub dead_letters: usize,
    /// Requests the receivers got, all webhooks together.
    pub requests: usize,
}

impl Report {
    /// The run's one delivery, after asserting the run broke no invariant (the violations and
    /// the trace on failure): what a scenario test of a single delivery checks first.
    pub fn only_delivery(&self) -> &hookline::model::Delivery {
        let explain = || {
            format!(
                "violations: {:#?}\ntrace:\n{}",
                self.violations,
                self.trace.join("\n")
            )
        };
        assert!(self.violations.is_empty(), "{}", explain());
        assert_eq!(self.final_deliveries.len(), 1, "{}", explain());
        &self.final_deliveries[0]
    }
}

/// The whole pipeline after a run, for the invariants.
pub struct Outcome<'a> {
    pub config: &'a Config,
    pub world: &'a World,
    pub plan: &'a workload::Plan,
    pub table: &'a SimTable,
    pub queues: &'a SimQueues,
    pub receivers: &'a Receivers,
    pub mailer: &'a SimMailer,
    /// (time, event) of every publish, republishes included.
    pub published: &'a [(u64, Event)],
    pub work_left: bool,
}

pub fn run(seed: u64, config: &Config) -> Report {
    run_plan(seed, config, |rng| workload::plan(rng, &config.shape))
}

/// A run of the plan `make_plan` draws (a targeted test's own scenario).
pub fn run_plan(
    seed: u64,
    config: &Config,
    make_plan: impl FnOnce(&rng::Rng) -> workload::Plan,
) -> Report {
    let world = World::new(seed, config.faults.clone(), config.trace);
    let plan = make_plan(&world.rng);
    let table = SimTable::new(world.clone());
    let receivers = Receivers::new(world.clone());
    for (webhook, behaviour) in &plan.webhooks {
        table.put_webhook(webhook);
        receivers.add(&webhook.url, behaviour.clone());
    }
    // The adapter is configured with the quota; the queue's own is "approximately" that,
    // up to 30% lower.
    let in_flight_quota = config.in_flight_limit.unwrap_or_else(|| {
        if world.rng.chance(0.1) {
            world.rng.between(20, 200) as usize
        } else if world.rng.chance(0.1) {
            world.rng.between(200, 2_000) as usize
        } else {
            sqs::IN_FLIGHT_QUOTA
        }
    });
    let in_flight_limit = in_flight_quota * world.rng.between(70, 100) as usize / 100;
    let queues = SimQueues {
        world: world.clone(),
        events: Queue::new(
            world.clone(),
            "events",
            config.events_queue.0,
            config.events_queue.1,
            sqs::IN_FLIGHT_QUOTA,
        ),
        deliveries: Queue::new(
            world.clone(),
            "deliveries",
            config.deliveries_queue.0,
            config.deliveries_queue.1,
            in_flight_limit,
        ),
        slow: Queue::new(
            world.clone(),
            "slow-deliveries",
            config.deliveries_queue.0,
            config.deliveries_queue.1,
            in_flight_limit,
        ),
        // Replaced in each container (`with_own_gauge`); this one serves the publisher.
        gauge: Default::default(),
    };
    let mailer = SimMailer::new(world.clone());
    // One engine per container (each poller's): its own in-flight readings and memory.
    let containers = (2 * config.function.max_concurrency + config.slow_lane_concurrency) as u64;
    let container = {
        let (table, receivers, mailer, queues, world) = (
            table.clone(),
            receivers.clone(),
            mailer.clone(),
            queues.clone(),
            world.clone(),
        );
        let settings = config.settings.clone();
        move || {
            Arc::new(hookline::outbound::Deliverer::new(
                table.clone(),
                receivers.clone(),
                mailer.clone(),
                queues.with_own_gauge(hookline::queue::InFlightGauge::new(
                    in_flight_quota as u64,
                    containers,
                )),
                Arc::new(SimClock(world.clone())),
                Arc::new(world.rng.clone()),
                settings.clone(),
            ))
        }
    };
    let stats = Arc::new(Mutex::new(InvocationStats::default()));
    let deliveries_source = FunctionConfig {
        batch_size: config.delivery_batches.0,
        batching_window_ms: config.delivery_batches.1,
        ..config.function.clone()
    };
    let slow_source = FunctionConfig {
        max_concurrency: config.slow_lane_concurrency,
        ..deliveries_source.clone()
    };
    for (queue, source) in [
        (&queues.events, config.function.clone()),
        (&queues.deliveries, deliveries_source),
        (&queues.slow, slow_source),
    ] {
        world.scheduler.spawn(lambda::poll(
            world.clone(),
            queue.clone(),
            container.clone(),
            source,
            stats.clone(),
        ));
    }
    let published = Arc::new(Mutex::new(Vec::new()));
    {
        let (world, table, queues, published) = (
            world.clone(),
            table.clone(),
            queues.clone(),
            published.clone(),
        );
        let actions = plan.actions.clone();
        world.scheduler.clone().spawn(async move {
            for (at, action) in actions {
                world.scheduler.sleep_until(at).await;
                act(&world, &table, &queues, &published, action).await;
            }
        });
    }
    let mut executor = Executor::new(world.scheduler.clone());
    let work_left = executor.run(config.horizon_ms);
    let published = published.lock().unwrap().clone();
    let outcome = Outcome {
        config,
        world: &world,
        plan: &plan,
        table: &table,
        queues: &queues,
        receivers: &receivers,
        mailer: &mailer,
        published: &published,
        work_left,
    };
    let checked = invariants::check(&outcome);
    let invocations = stats.lock().unwrap().invocations;
    let emails = mailer.sent.lock().unwrap().clone();
    let requests = receivers.seen.lock().unwrap().values().map(Vec::len).sum();
    let tables = table.tables();
    Report {
        seed,
        simulated_ms: world.now_ms(),
        events: published.len(),
        deliveries: tables.deliveries.len(),
        attempts: tables.records.values().map(Vec::len).sum(),
        faults: world.fault_counts(),
        conditions: world.condition_counts(),
        violations: checked.violations,
        trace: world.take_trace(),
        max_lateness_ms: checked.max_lateness_ms,
        largest_item: tables.largest_item,
        dynamo_writes: tables.writes,
        sqs_sends: queues.all().iter().map(|q| q.sends()).sum(),
        invocations,
        final_deliveries: tables
            .deliveries
            .values()
            .map(|s| s.delivery.clone())
            .collect(),
        emails,
        dead_letters: queues.all().iter().map(|q| q.dead_letters().len()).sum(),
        requests,
    }
}

async fn act(
    world: &World,
    table: &SimTable,
    queues: &SimQueues,
    published: &Mutex<Vec<(u64, Event)>>,
    action: Action,
) {
    let now = world.now_ms();
    match action {
        Action::Publish { body, account } => {
            // As POST /api/v1/events does: validate, keep, queue, mark.
            let event = Event::from_publish(&body, &account, world.now()).expect("valid events");
            world.trace(|| format!("USER publish {} {}", event.id, event.event.as_str()));
            // A publisher whose call failed tries again, as an API client would.
            for _ in 0..5 {
                let sent = publish(world, table, queues, &event).await;
                if sent.is_ok() {
                    published.lock().unwrap().push((now, event));
                    break;
                }
            }
        }
        Action::Disable { account, id } => {
            if let Some(w) = table.webhook_now(&account, &id) {
                world.trace(|| format!("USER disable {id}"));
                table.put_webhook(&workload::with_status(&w, Status::Inactive, now));
            }
        }
        Action::Enable { account, id } => {
            if let Some(w) = table.webhook_now(&account, &id) {
                world.trace(|| format!("USER enable {id}"));
                table.put_webhook(&workload::with_status(&w, Status::Active, now));
            }
        }
        Action::Delete { account, id } => {
            world.trace(|| format!("USER delete {id}"));
            table.remove_webhook(&account, &id);
        }
    }
}

/// `POST /api/v1/events`: the event kept once (the dedupe), then queued; a republished id
/// goes out checked, with its first time.
async fn publish(
    world: &World,
    table: &SimTable,
    queues: &SimQueues,
    event: &Event,
) -> Result<(), String> {
    let published = hookline::outbound::publish(table, queues, event, world.now())
        .await
        .map_err(|e| e.to_string())?;
    if published.queued && !published.marked {
        // A republish of this id will queue it again, checked, while its first delivery may
        // still be unrecorded: the fault (a failed mark) excuses that race.
        world.duplicated_event(&event.id);
    }
    Ok(())
}

/// Totals over many seeds: the line `make simulate` ends with.
#[derive(Debug, Default)]
pub struct Summary {
    pub runs: u64,
    pub simulated_ms: u64,
    pub events: u64,
    pub deliveries: u64,
    pub attempts: u64,
    pub faults: BTreeMap<&'static str, u64>,
    pub conditions: BTreeMap<&'static str, u64>,
    pub violations: u64,
    pub failed_seeds: Vec<u64>,
    pub max_lateness_ms: u64,
    pub largest_item: usize,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let faults: u64 = self.faults.values().sum();
        writeln!(f, "faults injected by kind:")?;
        for (kind, n) in &self.faults {
            writeln!(f, "  {kind}: {n}")?;
        }
        writeln!(f, "conditions met:")?;
        for (kind, n) in &self.conditions {
            writeln!(f, "  {kind}: {n}")?;
        }
        writeln!(
            f,
            "latest attempt after its due time: {}; largest item written: {} bytes",
            world::fmt_ms(self.max_lateness_ms),
            self.largest_item
        )?;
        write!(
            f,
            "simulation: {} runs, {:.1} simulated days, {} events, {} deliveries, {} attempts, {} faults, {} violations",
            self.runs,
            self.simulated_ms as f64 / 86_400_000.0,
            self.events,
            self.deliveries,
            self.attempts,
            faults,
            self.violations
        )
    }
}

pub fn replay_command(seed: u64) -> String {
    format!(
        "cargo run -p hookline-simulation --profile sim --bin simulate -- --seed {seed} --trace"
    )
}

/// Runs seeds `first..first + count` on every core (each run is single-threaded and depends on
/// its seed alone), handing each report to `each` in seed order.
pub fn run_seeds(
    first: u64,
    count: u64,
    config: &Config,
    mut each: impl FnMut(&Report),
) -> Summary {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
        .clamp(1, count.max(1));
    let mut summary = Summary::default();
    let mut next = first;
    while next < first + count {
        // A round of one seed per thread; a round's reports come back in seed order.
        let round: Vec<u64> = (next..(next + threads).min(first + count)).collect();
        next += round.len() as u64;
        let reports: Vec<Report> = std::thread::scope(|scope| {
            let handles: Vec<_> = round
                .iter()
                .map(|&seed| scope.spawn(move || run(seed, config)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a simulation run panicked"))
                .collect()
        });
        for report in reports {
            summary.runs += 1;
            summary.simulated_ms += report.simulated_ms;
            summary.events += report.events as u64;
            summary.deliveries += report.deliveries as u64;
            summary.attempts += report.attempts as u64;
            for (k, n) in &report.faults {
                *summary.faults.entry(k).or_default() += n;
            }
            for (k, n) in &report.conditions {
                *summary.conditions.entry(k).or_default() += n;
            }
            summary.violations += report.violations.len() as u64;
            if !report.violations.is_empty() {
                summary.failed_seeds.push(report.seed);
            }
            summary.max_lateness_ms = summary.max_lateness_ms.max(report.max_lateness_ms);
            summary.largest_item = summary.largest_item.max(report.largest_item);
            each(&report);
        }
    }
    summary
}
