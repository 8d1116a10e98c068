//! A single-threaded executor on simulated time: tasks run in the order they are woken, timers
//! fire in (time, creation) order, and time jumps to the next timer whenever no task can run.
//! Nothing here reads the wall clock, so a run depends on its seed alone.
//!
//! A task can be killed between any two of its awaits (a Lambda timeout, a crash): its future is
//! dropped there, with everything it held, as a real process dies.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

pub type TaskId = u64;
type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

thread_local! {
    /// Tasks spawned and not yet taken by the executor. Thread-local, so tasks need not be
    /// `Send` (a run is single-threaded) while the scheduler the models hold stays `Send`.
    static SPAWNED: std::cell::RefCell<Vec<(TaskId, BoxedTask)>> = const { std::cell::RefCell::new(Vec::new()) };
}

struct Timer {
    at: u64,
    seq: u64,
    waker: Waker,
}

impl PartialEq for Timer {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Default)]
struct State {
    /// Simulated milliseconds since the run's epoch.
    now: u64,
    seq: u64,
    timers: BinaryHeap<Reverse<Timer>>,
    ready: VecDeque<TaskId>,
    queued: HashSet<TaskId>,
    next_task: TaskId,
    /// The task being polled: whom a model's "crash here" kills.
    current: Option<TaskId>,
    doomed: HashSet<TaskId>,
}

/// Simulated time and the run queue, shared by the executor and every model.
#[derive(Clone, Default)]
pub struct Scheduler(Arc<Mutex<State>>);

struct TaskWaker {
    id: TaskId,
    scheduler: Scheduler,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut s = self.scheduler.0.lock().unwrap();
        if s.queued.insert(self.id) {
            s.ready.push_back(self.id);
        }
    }
}

impl Scheduler {
    pub fn now_ms(&self) -> u64 {
        self.0.lock().unwrap().now
    }

    /// The task being polled, if any.
    pub fn current(&self) -> Option<TaskId> {
        self.0.lock().unwrap().current
    }

    /// Kills `task` at its current await point (or now, if it is the one running).
    pub fn kill(&self, task: TaskId) {
        self.0.lock().unwrap().doomed.insert(task);
    }

    /// Whether `task` was killed (it runs on only until its current poll ends).
    pub fn is_doomed(&self, task: TaskId) -> bool {
        self.0.lock().unwrap().doomed.contains(&task)
    }

    pub fn spawn<T: 'static>(
        &self,
        future: impl Future<Output = T> + 'static,
    ) -> (TaskId, JoinHandle<T>) {
        let slot = Arc::new(Mutex::new(JoinSlot {
            result: None,
            finished: false,
            waker: None,
        }));
        let guard = SlotGuard(slot.clone());
        let task: BoxedTask = Box::pin(async move {
            let guard = guard;
            let value = future.await;
            guard.finish(Some(value));
        });
        let mut s = self.0.lock().unwrap();
        let id = s.next_task;
        s.next_task += 1;
        s.queued.insert(id);
        s.ready.push_back(id);
        SPAWNED.with(|spawned| spawned.borrow_mut().push((id, task)));
        (id, JoinHandle(slot))
    }

    pub fn sleep(&self, duration: Duration) -> Sleep {
        let at = self.now_ms() + duration.as_millis() as u64;
        self.sleep_until(at)
    }

    pub fn sleep_until(&self, at: u64) -> Sleep {
        Sleep {
            scheduler: self.clone(),
            at,
            registered: false,
        }
    }

    /// Moves time to the next timer and fires it; `false` when none is left.
    pub fn fire_next_timer(&self) -> bool {
        let timer = {
            let mut s = self.0.lock().unwrap();
            let Some(Reverse(t)) = s.timers.pop() else {
                return false;
            };
            s.now = s.now.max(t.at);
            t
        };
        timer.waker.wake();
        true
    }

    /// Runs one future to its end on simulated time, outside any executor: for calling a
    /// model's async API from an ordinary test. Panics if it waits on anything but time.
    pub fn block_on<T>(&self, future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        loop {
            if let Poll::Ready(value) = future.as_mut().poll(&mut cx) {
                return value;
            }
            assert!(
                self.fire_next_timer(),
                "the future waits on something other than time"
            );
        }
    }

    fn add_timer(&self, at: u64, waker: Waker) {
        let mut s = self.0.lock().unwrap();
        s.seq += 1;
        let seq = s.seq;
        s.timers.push(Reverse(Timer { at, seq, waker }));
    }
}

/// Completes at a simulated time.
pub struct Sleep {
    scheduler: Scheduler,
    at: u64,
    registered: bool,
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.scheduler.now_ms() >= self.at {
            return Poll::Ready(());
        }
        if !self.registered {
            self.registered = true;
            self.scheduler.add_timer(self.at, cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Wakes whoever waits on it; a waiter also gives up at a simulated time.
#[derive(Clone, Default)]
pub struct Signal(Arc<Mutex<(u64, Vec<Waker>)>>);

impl Signal {
    pub fn notify(&self) {
        let wakers = {
            let mut s = self.0.lock().unwrap();
            s.0 += 1;
            std::mem::take(&mut s.1)
        };
        for w in wakers {
            w.wake();
        }
    }

    pub fn generation(&self) -> u64 {
        self.0.lock().unwrap().0
    }

    /// Until a `notify` after `generation`, or until simulated time `until` (if any).
    pub fn wait(&self, generation: u64, scheduler: &Scheduler, until: Option<u64>) -> SignalWait {
        SignalWait {
            signal: self.clone(),
            generation,
            scheduler: scheduler.clone(),
            until,
            timer_set: false,
        }
    }
}

pub struct SignalWait {
    signal: Signal,
    generation: u64,
    scheduler: Scheduler,
    until: Option<u64>,
    timer_set: bool,
}

impl Future for SignalWait {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.until.is_some_and(|t| self.scheduler.now_ms() >= t) {
            return Poll::Ready(());
        }
        {
            let mut s = self.signal.0.lock().unwrap();
            if s.0 != self.generation {
                return Poll::Ready(());
            }
            s.1.push(cx.waker().clone());
        }
        if let (Some(t), false) = (self.until, self.timer_set) {
            self.timer_set = true;
            self.scheduler.add_timer(t, cx.waker().clone());
        }
        Poll::Pending
    }
}

/// A future that never completes: what a call returns into a process that died inside it.
pub struct Never;
impl Future for Never {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

struct JoinSlot<T> {
    /// `Some(None)`: the task was killed.
    result: Option<Option<T>>,
    finished: bool,
    waker: Option<Waker>,
}

struct SlotGuard<T>(Arc<Mutex<JoinSlot<T>>>);

impl<T> SlotGuard<T> {
    fn finish(&self, value: Option<T>) {
        let mut slot = self.0.lock().unwrap();
        if !slot.finished {
            slot.finished = true;
            slot.result = Some(value);
            if let Some(w) = slot.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> Drop for SlotGuard<T> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// The outcome of a spawned task: `None` when it was killed.
pub struct JoinHandle<T>(Arc<Mutex<JoinSlot<T>>>);

impl<T> Future for JoinHandle<T> {
    type Output = Option<T>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut slot = self.0.lock().unwrap();
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Owns the tasks; `run` drives them on the scheduler's time.
pub struct Executor {
    pub scheduler: Scheduler,
    tasks: HashMap<TaskId, BoxedTask>,
}

impl Executor {
    pub fn new(scheduler: Scheduler) -> Self {
        Self {
            scheduler,
            tasks: HashMap::new(),
        }
    }

    fn admit_and_reap(&mut self) {
        let spawned = SPAWNED.with(|spawned| std::mem::take(&mut *spawned.borrow_mut()));
        let doomed = std::mem::take(&mut self.scheduler.0.lock().unwrap().doomed);
        self.tasks.extend(spawned);
        // Dropping a future runs its destructors, which may touch the scheduler: not under its lock.
        for id in doomed {
            drop(self.tasks.remove(&id));
        }
    }

    /// Runs until no task can run and no timer is left, or until simulated time would pass
    /// `until` (ms). Returns whether work remains.
    pub fn run(&mut self, until: u64) -> bool {
        loop {
            self.admit_and_reap();
            let next = {
                let mut s = self.scheduler.0.lock().unwrap();
                let id = s.ready.pop_front();
                if let Some(id) = id {
                    s.queued.remove(&id);
                    s.current = Some(id);
                }
                id
            };
            if let Some(id) = next {
                if let Some(task) = self.tasks.get_mut(&id) {
                    let waker = Waker::from(Arc::new(TaskWaker {
                        id,
                        scheduler: self.scheduler.clone(),
                    }));
                    let mut cx = Context::from_waker(&waker);
                    if task.as_mut().poll(&mut cx).is_ready() {
                        drop(self.tasks.remove(&id));
                    }
                }
                self.scheduler.0.lock().unwrap().current = None;
                continue;
            }
            // Nothing can run: move time to the next timer.
            let timer = {
                let mut s = self.scheduler.0.lock().unwrap();
                match s.timers.peek() {
                    None => return false,
                    Some(Reverse(t)) if t.at > until => return true,
                    Some(_) => {}
                }
                let Reverse(t) = s.timers.pop().expect("peeked");
                s.now = s.now.max(t.at);
                t
            };
            timer.waker.wake();
        }
    }

    pub fn live_tasks(&self) -> usize {
        self.tasks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_time_order_and_time_jumps() {
        let scheduler = Scheduler::default();
        let mut ex = Executor::new(scheduler.clone());
        let log = Arc::new(Mutex::new(Vec::new()));
        for (name, ms) in [("b", 2_000u64), ("a", 1_000), ("c", 86_400_000)] {
            let (s, log) = (scheduler.clone(), log.clone());
            scheduler.spawn(async move {
                s.sleep(Duration::from_millis(ms)).await;
                log.lock().unwrap().push((name, s.now_ms()));
            });
        }
        assert!(!ex.run(u64::MAX));
        assert_eq!(
            *log.lock().unwrap(),
            vec![("a", 1_000), ("b", 2_000), ("c", 86_400_000)]
        );
    }

    #[test]
    fn a_killed_task_stops_at_its_await_and_its_handle_says_so() {
        let scheduler = Scheduler::default();
        let mut ex = Executor::new(scheduler.clone());
        let reached = Arc::new(Mutex::new(false));
        let (s, r) = (scheduler.clone(), reached.clone());
        let (id, handle) = scheduler.spawn(async move {
            s.sleep(Duration::from_secs(10)).await;
            *r.lock().unwrap() = true;
        });
        let outcome = Arc::new(Mutex::new(None));
        let (s, o) = (scheduler.clone(), outcome.clone());
        scheduler.spawn(async move {
            s.sleep(Duration::from_secs(5)).await;
            s.kill(id);
            *o.lock().unwrap() = Some(handle.await);
        });
        ex.run(u64::MAX);
        assert!(!*reached.lock().unwrap());
        assert_eq!(*outcome.lock().unwrap(), Some(None));
    }
}
