//! `youki-trace record`: the flight recorder. Follows every youki command on the node by
//! comm and lineage, keeps a bounded window of each create's events, lets the creates that
//! succeed go (and stops following their processes), and writes one NDJSON report per
//! failed create into the report directory; with events on, each report also becomes a
//! Kubernetes Event on its pod (see `notify`). Runs until SIGINT or SIGTERM.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};

use crate::bundle;
use crate::creates::{Creates, FailedCreate, Limits};
use crate::event::{Event, Kind};
use crate::events::{Failure, PodRef};
use crate::kube::ApiServer;
use crate::loader::{self, Drops, Syscalls, Tracer};
use crate::notify::{self, Notifier, Offer};
use crate::report::{self, Context};
use crate::store::Store;

/// How the recorder runs.
#[derive(Debug, Clone)]
pub struct Options {
    pub dir: PathBuf,
    pub max_files: usize,
    pub max_bytes: u64,
    pub comm: String,
    pub limits: Limits,
    /// Ring buffer size instead of the object's 8 MiB (tests use a tiny one to see drops).
    pub ring_bytes: Option<u32>,
    /// Post an Event per report, when set.
    pub events: Option<Events>,
}

/// Where and how the recorder posts Events.
#[derive(Debug, Clone)]
pub struct Events {
    pub api: ApiServer,
    /// The node's name, the Events' source.
    pub node: String,
    pub limits: notify::Limits,
}

/// How long a stopping recorder waits for the Events still queued.
const EVENTS_GRACE: Duration = Duration::from_secs(5);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// The kernel's monotonic clock, which the events' timestamps use.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000_000 + ts.tv_nsec as u64
}

fn unix_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Drops counted by the kernel side since the recorder started, sampled per create.
struct DropWatch {
    last_warned: Drops,
    at_start: std::collections::HashMap<u32, Drops>,
}

/// Runs the recorder until SIGINT or SIGTERM.
pub fn run(opts: &Options) -> Result<()> {
    loader::preflight()?;
    let store = Store::open(&opts.dir, opts.max_files, opts.max_bytes)?;
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
    }
    let mut notifier = match &opts.events {
        Some(e) => {
            eprintln!("youki-trace record: posting an event per failed create of a pod to {:?} as node {:?}", e.api, e.node);
            Some(Notifier::start(e.api.clone(), e.node.clone(), e.limits).context("start the events thread")?)
        }
        None => None,
    };
    let mut tracer = Tracer::attach_with(None, Some(&opts.comm), opts.ring_bytes, Syscalls::Failures).context("attach the tracer")?;
    eprintln!(
        "youki-trace record: following `{}` commands; failure reports go to {} (at most {} \
         files, {} bytes); stop with SIGINT or SIGTERM",
        opts.comm,
        store.dir.display(),
        store.max_files,
        store.max_bytes
    );
    let mut creates = Creates::new(&opts.comm, opts.limits);
    let mut watch = DropWatch { last_warned: Drops::default(), at_start: Default::default() };
    let mut batch: Vec<Event> = Vec::new();
    let mut checked = Instant::now();
    let mut written = 0u64;
    while !STOP.load(Ordering::SeqCst) {
        tracer.poll(Duration::from_millis(50), &mut batch)?;
        step(&mut tracer, &mut creates, &mut batch, &mut watch)?;
        for f in creates.finish(monotonic_ns()) {
            let started = watch.at_start.remove(&f.root).unwrap_or_default();
            let drops = tracer.drops()?.since(&started);
            match write_report(&store, &f, drops) {
                Ok((line, failure)) => {
                    written += 1;
                    eprintln!("youki-trace record: {line}");
                    if let (Some(n), Some(failure)) = (notifier.as_mut(), failure) {
                        offer(n, &failure);
                    }
                }
                Err(e) => eprintln!("youki-trace record: {e:#}"),
            }
        }
        watch.at_start.retain(|root, _| creates.is_root(*root));
        if checked.elapsed() >= Duration::from_secs(1) {
            checked = Instant::now();
            warn_drops(&tracer, &mut watch)?;
        }
    }
    let c = creates.counts;
    let d = tracer.drops()?;
    eprintln!(
        "youki-trace record: stopped: {written} reports written; creates: {} failed, {} \
         succeeded, {} given up (too many at once), {} still running; {} other commands; \
         lost: {} events (ring full), {} syscall enters, {} processes not followed",
        c.failed,
        c.succeeded,
        c.given_up,
        creates.len(),
        c.not_creates,
        d.ring,
        d.enters,
        d.untraced
    );
    tracer.detach();
    if let Some(n) = notifier {
        let counts = n.counts.clone();
        let drained = n.finish(EVENTS_GRACE);
        let left = if drained { "" } else { "; gave up on the events still queued" };
        eprintln!("youki-trace record: {}{left}", counts.line());
    }
    Ok(())
}

/// Hands a failure to the events thread; says why when it is not queued.
fn offer(n: &mut Notifier, f: &Failure) {
    let why = match n.offer(f) {
        Offer::Queued => return,
        Offer::Duplicate => "its container already has one",
        Offer::RateLimited => "rate limit",
        Offer::QueueFull => "queue full",
    };
    eprintln!("youki-trace record: no event for {} on pod {}/{}: {why}", f.container_id, f.pod.namespace, f.pod.name);
}

/// Feeds one batch of events and lets go of the processes no create needs.
fn step(tracer: &mut Tracer, creates: &mut Creates, batch: &mut Vec<Event>, watch: &mut DropWatch) -> Result<()> {
    for e in batch.drain(..) {
        let new_root = e.kind == Kind::Exec && !creates.is_root(e.pid);
        let pid = e.pid;
        creates.feed(e);
        if new_root && creates.is_root(pid) {
            // The cwd resolves a relative --bundle; the process may already be gone.
            if let Ok(cwd) = std::fs::read_link(format!("/proc/{pid}/cwd")) {
                creates.set_cwd(pid, cwd);
            }
            // The pod now: containerd removes the bundle of a create that failed.
            if let Some(pod) = creates.bundle_of(pid).as_deref().and_then(bundle::pod) {
                creates.set_pod(pid, pod);
            }
            watch.at_start.insert(pid, tracer.drops()?);
        }
    }
    let gone = creates.take_untrace();
    if !gone.is_empty() {
        tracer.untrace(&gone)?;
    }
    Ok(())
}

/// Says on stderr when the kernel side lost events since the last warning.
fn warn_drops(tracer: &Tracer, watch: &mut DropWatch) -> Result<()> {
    let d = tracer.drops()?;
    let new = d.since(&watch.last_warned);
    if new.total() > 0 {
        eprintln!(
            "youki-trace record: warning: lost {} events (ring buffer full), {} syscall enters \
             (pending map full), {} processes not followed (traced map full); reports of \
             creates running meanwhile say so",
            new.ring, new.enters, new.untraced
        );
        watch.last_warned = d;
    }
    Ok(())
}

/// Writes the report of `f`; returns the line to log, and the failure to post as an Event
/// when the bundle named a pod.
fn write_report(store: &Store, f: &FailedCreate, drops: Drops) -> Result<(String, Option<Failure>)> {
    let bundle = f.bundle();
    let pod = f.pod.clone().or_else(|| bundle.as_deref().and_then(bundle::pod));
    let ctx = Context { unix_ms: unix_ms(), drops, bundle, pod };
    let report = report::build(f, &ctx);
    let id = f.invocation.container_id.as_deref().unwrap_or("unknown");
    let (path, removed) = store.write(ctx.unix_ms, f.root, id, &report.lines)?;
    for r in removed {
        eprintln!("youki-trace record: rotated out {}", r.display());
    }
    let line = format!("create of {id} failed: {}; report {}", report.first_failure, path.display());
    let failure = ctx.pod.as_ref().and_then(PodRef::from_report).map(|pod| Failure {
        container_id: id.to_string(),
        pod,
        first_failure: report.first_failure,
        unix_ms: ctx.unix_ms,
    });
    Ok((line, failure))
}
