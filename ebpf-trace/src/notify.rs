//! Posts the recorder's Events without ever holding it up: `offer` decides on the
//! recorder's thread (one Event per container id, a token bucket) and hands the Event to a
//! bounded queue with `try_send`; a queue that is full drops it and counts. One worker
//! thread posts, retrying a failed call twice; a conflict means the Event already exists.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::events::{self, Dedup, Failure, TokenBucket};
use crate::kube::{Answer, ApiServer, KubeError};

/// Where Events go: the API server, or a stand-in in tests.
pub trait Sink: Send + 'static {
    fn post(&mut self, path: &str, body: &Value) -> Result<Answer, KubeError>;
}

impl Sink for ApiServer {
    fn post(&mut self, path: &str, body: &Value) -> Result<Answer, KubeError> {
        ApiServer::post(self, path, body)
    }
}

/// How Events are gated.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub queue: usize,
    pub burst: u32,
    pub per_minute: u32,
    /// Container ids remembered for deduplication.
    pub remember: usize,
    /// Waits before the second and third try of a failed call.
    pub retry: [Duration; 2],
}

impl Default for Limits {
    fn default() -> Self {
        Limits { queue: 64, burst: 10, per_minute: 10, remember: 4096, retry: [Duration::from_secs(1), Duration::from_secs(3)] }
    }
}

/// What `offer` did with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    Queued,
    Duplicate,
    RateLimited,
    QueueFull,
}

/// Counts, shared with the worker.
#[derive(Debug, Default)]
pub struct Counts {
    pub queued: AtomicU64,
    pub duplicate: AtomicU64,
    pub rate_limited: AtomicU64,
    pub queue_full: AtomicU64,
    pub posted: AtomicU64,
    /// Refused by the API server or never answered, after the retries.
    pub failed: AtomicU64,
}

impl Counts {
    pub fn line(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "events: {} posted, {} failed, {} duplicates of a container already reported, {} \
             rate-limited, {} dropped (queue full)",
            g(&self.posted),
            g(&self.failed),
            g(&self.duplicate),
            g(&self.rate_limited),
            g(&self.queue_full)
        )
    }
}

pub struct Notifier {
    tx: Option<SyncSender<(String, Value)>>,
    dedup: Dedup,
    bucket: TokenBucket,
    node: String,
    pub counts: Arc<Counts>,
    worker: Option<JoinHandle<()>>,
    done: Receiver<()>,
}

/// Posts one Event, with retries for what may pass later; logs the outcome.
fn deliver(sink: &mut dyn Sink, path: &str, event: &Value, retry: &[Duration], counts: &Counts) {
    let what = format!(
        "event {} on pod {}/{}",
        event["reason"].as_str().unwrap_or(""),
        event["involvedObject"]["namespace"].as_str().unwrap_or(""),
        event["involvedObject"]["name"].as_str().unwrap_or("")
    );
    let mut tries = retry.iter();
    loop {
        let outcome = sink.post(path, event);
        let again = match &outcome {
            Ok(a) if (200..300).contains(&a.code) || a.code == 409 => {
                counts.posted.fetch_add(1, Ordering::Relaxed);
                eprintln!("youki-trace record: posted {what}{}", if a.code == 409 { " (it existed)" } else { "" });
                return;
            }
            Ok(a) => a.code == 429 || a.code >= 500,
            Err(_) => true,
        };
        match (again, tries.next()) {
            (true, Some(wait)) => std::thread::sleep(*wait),
            _ => {
                counts.failed.fetch_add(1, Ordering::Relaxed);
                match outcome {
                    Ok(a) => eprintln!("youki-trace record: {what} refused: {}", a.describe()),
                    Err(e) => eprintln!("youki-trace record: {what} not posted: {:#}", anyhow::Error::from(e)),
                }
                return;
            }
        }
    }
}

impl Notifier {
    /// Starts the worker that posts to `sink`; `node` goes into each Event's source.
    pub fn start(mut sink: impl Sink, node: String, limits: Limits) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::sync_channel::<(String, Value)>(limits.queue.max(1));
        let (done_tx, done) = mpsc::channel();
        let counts = Arc::new(Counts::default());
        let c = counts.clone();
        let worker = std::thread::Builder::new().name("events".into()).spawn(move || {
            for (path, event) in rx {
                deliver(&mut sink, &path, &event, &limits.retry, &c);
            }
            let _ = done_tx.send(());
        })?;
        Ok(Notifier {
            tx: Some(tx),
            dedup: Dedup::new(limits.remember),
            bucket: TokenBucket::new(limits.burst, limits.per_minute, Instant::now()),
            node,
            counts,
            worker: Some(worker),
            done,
        })
    }

    /// Queues the Event of `f` unless it repeats a container, exceeds the rate, or finds
    /// the queue full. Never waits.
    pub fn offer(&mut self, f: &Failure) -> Offer {
        let outcome = if !self.dedup.first(&f.container_id) {
            Offer::Duplicate
        } else if !self.bucket.take(Instant::now()) {
            Offer::RateLimited
        } else {
            let item = (events::path(&f.pod.namespace), events::event(f, &self.node));
            match self.tx.as_ref().map(|tx| tx.try_send(item)) {
                Some(Ok(())) => Offer::Queued,
                Some(Err(TrySendError::Full(_) | TrySendError::Disconnected(_))) | None => Offer::QueueFull,
            }
        };
        let counter = match outcome {
            Offer::Queued => &self.counts.queued,
            Offer::Duplicate => &self.counts.duplicate,
            Offer::RateLimited => &self.counts.rate_limited,
            Offer::QueueFull => &self.counts.queue_full,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Closes the queue and waits at most `grace` for the Events in it; true when all went.
    pub fn finish(mut self, grace: Duration) -> bool {
        self.tx = None;
        let drained = self.done.recv_timeout(grace).is_ok();
        if drained {
            if let Some(w) = self.worker.take() {
                let _ = w.join();
            }
        }
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::PodRef;
    use std::sync::Mutex;

    /// Answers with the codes given, in turn (then 201), and keeps what it was sent; waits
    /// for `gate` before each answer when there is one.
    struct Fake {
        codes: Vec<u16>,
        sent: Arc<Mutex<Vec<Value>>>,
        gate: Option<Receiver<()>>,
    }

    impl Sink for Fake {
        fn post(&mut self, _: &str, body: &Value) -> Result<Answer, KubeError> {
            if let Some(g) = &self.gate {
                let _ = g.recv();
            }
            self.sent.lock().unwrap().push(body.clone());
            let code = if self.codes.is_empty() { 201 } else { self.codes.remove(0) };
            Ok(Answer { code, body: Value::Null })
        }
    }

    fn failure(id: &str) -> Failure {
        Failure {
            container_id: id.into(),
            pod: PodRef { namespace: "ns".into(), name: "p".into(), uid: None, container: Some("app".into()) },
            first_failure: "stage youki:process: execve(\"/app\") = -1 ENOENT".into(),
            unix_ms: 0,
        }
    }

    fn limits() -> Limits {
        Limits { queue: 2, burst: 100, per_minute: 60, remember: 16, retry: [Duration::ZERO; 2] }
    }

    #[test]
    fn one_event_per_container_and_retries_of_server_errors() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake { codes: vec![503, 201, 403], sent: sent.clone(), gate: None };
        let mut n = Notifier::start(fake, "node-a".into(), limits()).unwrap();
        assert_eq!(n.offer(&failure("c1")), Offer::Queued);
        assert_eq!(n.offer(&failure("c1")), Offer::Duplicate);
        let counts = n.counts.clone();
        assert!(n.finish(Duration::from_secs(5)));
        let mut n = Notifier::start(Fake { codes: vec![403], sent: sent.clone(), gate: None }, "node-a".into(), limits()).unwrap();
        assert_eq!(n.offer(&failure("c2")), Offer::Queued);
        let refused = n.counts.clone();
        assert!(n.finish(Duration::from_secs(5)));
        // c1: a 503, then a 201 on the retry; c2: a 403 is not retried.
        assert_eq!(sent.lock().unwrap().len(), 3);
        assert_eq!(
            counts.line(),
            "events: 1 posted, 0 failed, 1 duplicates of a container already reported, 0 rate-limited, 0 dropped (queue full)"
        );
        assert_eq!((refused.posted.load(Ordering::Relaxed), refused.failed.load(Ordering::Relaxed)), (0, 1));
    }

    #[test]
    fn a_full_queue_drops_and_counts_without_waiting() {
        let (open, gate) = mpsc::channel();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let mut n = Notifier::start(Fake { codes: vec![], sent: sent.clone(), gate: Some(gate) }, "n".into(), limits()).unwrap();
        let t = Instant::now();
        let offers: Vec<Offer> = (0..10).map(|i| n.offer(&failure(&format!("c{i}")))).collect();
        assert!(t.elapsed() < Duration::from_millis(500), "offer waited {:?}", t.elapsed());
        // The worker holds one, the queue two: the rest are dropped.
        let queued = offers.iter().filter(|o| **o == Offer::Queued).count();
        assert!((2..=3).contains(&queued), "{offers:?}");
        assert_eq!(n.counts.queue_full.load(Ordering::Relaxed), 10 - queued as u64);
        for _ in 0..queued {
            open.send(()).unwrap();
        }
        assert!(n.finish(Duration::from_secs(5)));
        assert_eq!(sent.lock().unwrap().len(), queued);
    }

    #[test]
    fn the_rate_limit_drops_beyond_the_burst() {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let l = Limits { burst: 2, per_minute: 1, queue: 16, ..limits() };
        let mut n = Notifier::start(Fake { codes: vec![], sent: sent.clone(), gate: None }, "n".into(), l).unwrap();
        let offers: Vec<Offer> = (0..4).map(|i| n.offer(&failure(&format!("c{i}")))).collect();
        assert_eq!(offers, [Offer::Queued, Offer::Queued, Offer::RateLimited, Offer::RateLimited]);
        assert!(n.finish(Duration::from_secs(5)));
        assert_eq!(sent.lock().unwrap().len(), 2);
    }

    #[test]
    fn finish_gives_up_on_a_stuck_worker() {
        let (_open, gate) = mpsc::channel();
        let mut n = Notifier::start(Fake { codes: vec![], sent: Default::default(), gate: Some(gate) }, "n".into(), limits()).unwrap();
        n.offer(&failure("c1"));
        assert!(!n.finish(Duration::from_millis(100)));
    }
}
