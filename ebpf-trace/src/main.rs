//! `youki-trace`: runs or follows a container runtime under eBPF tracepoints and explains, stage
//! by stage, what failed first and what was slow.

mod analysis;
mod argv;
mod bundle;
mod creates;
mod decode;
mod event;
mod events;
mod kube;
mod launch;
mod loader;
mod names;
mod notify;
mod record;
mod render;
mod report;
mod select;
mod store;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

use analysis::RootStatus;
use event::{Event, Kind};

/// Trace a container runtime's create path with eBPF and report the first failure.
#[derive(Parser, Debug)]
#[command(name = "youki-trace", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    sub: Option<Sub>,
    /// Print NDJSON events and a final summary object instead of columns.
    #[arg(long)]
    json: bool,
    /// Print only failed syscalls (the summary still covers everything).
    #[arg(long)]
    failed_only: bool,
    /// Print only these syscalls (comma-separated names); other events still count.
    #[arg(long, value_delimiter = ',')]
    syscalls: Vec<String>,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Follow a running process and its new descendants until it exits or Ctrl-C.
    #[arg(long, conflicts_with = "command")]
    pid: Option<u32>,
    /// Report only the processes whose exec arguments include this container id, and
    /// their descendants (for example with --comm youki under containerd).
    #[arg(long, value_name = "ID")]
    container_id: Option<String>,
    /// Follow every process that execs with this comm name (e.g. youki), until Ctrl-C.
    #[arg(long, conflicts_with = "command")]
    comm: Option<String>,
    /// Command to start held, trace from its first syscall, and wait for.
    #[arg(last = true)]
    command: Vec<String>,
}

/// The default directory of failure reports.
const FAILURES: &str = "/var/log/youki/failures";

#[derive(clap::Subcommand, Debug)]
enum Sub {
    /// Flight recorder: follow every youki command on the node and write one NDJSON report
    /// per failed create; creates that succeed leave nothing. Runs until SIGINT or SIGTERM.
    Record(RecordArgs),
    /// Print the newest stored failure report of a container id or `namespace/pod`.
    Why(WhyArgs),
}

#[derive(clap::Args, Debug)]
struct RecordArgs {
    /// Directory of the failure reports.
    #[arg(long, value_name = "DIR", default_value = FAILURES)]
    dir: PathBuf,
    /// Keep at most this many reports (the oldest go first).
    #[arg(long, value_name = "N", default_value_t = 200)]
    max_files: usize,
    /// Keep at most this many bytes of reports (the oldest go first; the newest stays).
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    max_bytes: u64,
    /// Syscall events kept per create, the newest (older ones are counted as evicted).
    #[arg(long, value_name = "N", default_value_t = 2048)]
    max_events: usize,
    /// Creates followed at once; beyond it the oldest is given up.
    #[arg(long, value_name = "N", default_value_t = 32)]
    max_creates: usize,
    /// The comm name of the runtime's commands.
    #[arg(long, value_name = "NAME", default_value = "youki")]
    comm: String,
    /// Ring buffer bytes (a power of two), instead of 8 MiB.
    #[arg(long, value_name = "BYTES", hide = true)]
    ring_bytes: Option<u32>,
    /// Post a Kubernetes Event (reason YoukiCreateFailed) on the pod of each failed create,
    /// to the pod's own API server (KUBERNETES_SERVICE_HOST and _PORT, the service
    /// account's token and CA).
    #[arg(long)]
    kube_events: bool,
    /// Post the Events to this API server instead (http://HOST:PORT, or https:// with
    /// --kube-ca); no token unless --kube-token-file.
    #[arg(long, value_name = "URL")]
    kube_api: Option<String>,
    /// The CA bundle (PEM) of an https --kube-api.
    #[arg(long, value_name = "FILE", requires = "kube_api")]
    kube_ca: Option<PathBuf>,
    /// A bearer token file for --kube-api.
    #[arg(long, value_name = "FILE", requires = "kube_api")]
    kube_token_file: Option<PathBuf>,
    /// The node's name, the Events' source [default: $NODE_NAME, else the host name].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// Events posted at once before the rate applies.
    #[arg(long, value_name = "N", default_value_t = 10)]
    event_burst: u32,
    /// Events posted per minute after the burst; more are dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 10)]
    events_per_minute: u32,
}

#[derive(clap::Args, Debug)]
struct WhyArgs {
    /// A container id, or `namespace/pod` (from the CRI annotations of the bundle).
    #[arg(value_name = "CONTAINER-ID | NAMESPACE/POD")]
    query: String,
    /// Directory of the failure reports.
    #[arg(long, value_name = "DIR", default_value = FAILURES)]
    dir: PathBuf,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// After the traced command ended, drain until the ring buffer stays quiet this long.
const QUIET: Duration = Duration::from_millis(30);
/// ...but never longer than this.
const DRAIN_MAX: Duration = Duration::from_millis(500);

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("youki-trace: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run() -> Result<i32> {
    let cli = Cli::parse();
    match &cli.sub {
        Some(Sub::Record(r)) => return record(r).map(|()| 0),
        Some(Sub::Why(w)) => return why(w),
        None => {}
    }
    if cli.command.is_empty() && cli.pid.is_none() && cli.comm.is_none() {
        bail!("missing command: use `youki-trace [options] -- COMMAND...`, --pid PID or --comm NAME");
    }
    loader::preflight()?;
    let (mut events, root, drops, attach_ms, tracer) =
        if cli.pid.is_some() || cli.comm.is_some() { follow(cli.pid, cli.comm.as_deref())? } else { launch(&cli.command)? };
    eprintln!("youki-trace: load+attach {attach_ms:.1} ms, {} events, {} dropped", events.len(), drops.ring);
    if let Some(id) = &cli.container_id {
        events = select::container(events, id);
    }
    let analysis = analysis::analyse(&events, root);
    let opts = render::Options { failed_only: cli.failed_only, root, drops: drops.ring, lost_enters: drops.enters };
    let shown: Vec<Event> = filter(&events, &cli.syscalls);
    let mut out: Box<dyn Write> = match &cli.output {
        Some(p) => Box::new(BufWriter::new(File::create(p).with_context(|| format!("create output file {}", p.display()))?)),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    if cli.json {
        render::ndjson(&mut out, &shown, &analysis, &opts)?;
    } else {
        render::human(&mut out, &shown, &analysis, &opts)?;
    }
    out.flush()?;
    drop(out);
    tracer.detach();
    Ok(match root {
        Some(RootStatus::Exited(c)) => c,
        Some(RootStatus::Signaled(s)) => 128 + s,
        None => 0,
    })
}

/// The node's name: --node-name, else $NODE_NAME, else the kernel's host name.
fn node_name(r: &RecordArgs) -> String {
    r.node_name
        .clone()
        .or_else(|| std::env::var("NODE_NAME").ok().filter(|n| !n.is_empty()))
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .unwrap_or_default()
}

fn record(r: &RecordArgs) -> Result<()> {
    let api = match (&r.kube_api, r.kube_events) {
        (Some(url), _) => Some(kube::ApiServer::from_url(url, r.kube_token_file.clone(), r.kube_ca.as_deref())?),
        (None, true) => Some(kube::ApiServer::in_cluster()?),
        (None, false) => None,
    };
    let events = api.map(|api| record::Events {
        api,
        node: node_name(r),
        limits: notify::Limits { burst: r.event_burst, per_minute: r.events_per_minute, ..Default::default() },
    });
    record::run(&record::Options {
        dir: r.dir.clone(),
        max_files: r.max_files,
        max_bytes: r.max_bytes,
        comm: r.comm.clone(),
        limits: creates::Limits { calls: r.max_events.max(16), creates: r.max_creates.max(1), ..Default::default() },
        ring_bytes: r.ring_bytes,
        events,
    })
}

/// Prints the newest report about the query; status 1 when there is none.
fn why(w: &WhyArgs) -> Result<i32> {
    if !w.dir.is_dir() {
        eprintln!(
            "youki-trace why: no failure reports: {} does not exist (is `youki-trace record` \
             running with this --dir?)",
            w.dir.display()
        );
        return Ok(1);
    }
    match store::newest(&w.dir, &w.query)? {
        Some((path, header)) => {
            print!("{}", report::describe(&header, &path));
            Ok(0)
        }
        None => {
            eprintln!("youki-trace why: no failure report for {:?} under {}", w.query, w.dir.display());
            Ok(1)
        }
    }
}

fn filter(events: &[Event], syscalls: &[String]) -> Vec<Event> {
    if syscalls.is_empty() {
        return events.to_vec();
    }
    let nrs: Vec<i64> = syscalls.iter().filter_map(|s| names::syscall_number(s)).collect();
    events.iter().filter(|e| !matches!(e.kind, Kind::Syscall | Kind::NoReturn) || nrs.contains(&e.nr)).cloned().collect()
}

type Trace = (Vec<Event>, Option<RootStatus>, loader::Drops, f64, loader::Tracer);

fn launch(command: &[String]) -> Result<Trace> {
    let mut held = launch::spawn_held(command)?;
    let started = Instant::now();
    // Dropping `held` on error closes the gate, so the child exits without running COMMAND.
    let mut tracer = loader::Tracer::attach(Some(held.pid), None).context("attach the tracer")?;
    let attach_ms = started.elapsed().as_secs_f64() * 1e3;
    held.release()?;
    let mut events = Vec::new();
    let mut ended: Option<(RootStatus, Instant)> = None;
    loop {
        let wait = if ended.is_some() { QUIET } else { Duration::from_millis(20) };
        let n = tracer.poll(wait, &mut events)?;
        match ended {
            None => ended = held.try_wait()?.map(|st| (st, Instant::now())),
            Some((_, at)) if n == 0 || at.elapsed() >= DRAIN_MAX => break,
            Some(_) => {}
        }
    }
    tracer.poll(Duration::ZERO, &mut events)?;
    let drops = tracer.drops()?;
    analysis::sort(&mut events);
    Ok((events, ended.map(|(s, _)| s), drops, attach_ms, tracer))
}

/// Follows `pid` until it exits, and/or new processes named `comm`, until SIGINT or SIGTERM.
fn follow(pid: Option<u32>, comm: Option<&str>) -> Result<Trace> {
    if let Some(pid) = pid {
        if !Path::new(&format!("/proc/{pid}")).exists() {
            bail!("no process with pid {pid}");
        }
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
    let started = Instant::now();
    let mut tracer = loader::Tracer::attach(pid, comm).context("attach the tracer")?;
    let attach_ms = started.elapsed().as_secs_f64() * 1e3;
    if comm.is_some() {
        eprintln!("youki-trace: following; stop with Ctrl-C (SIGINT) or SIGTERM");
    }
    let mut events = Vec::new();
    let alive = |p: u32| Path::new(&format!("/proc/{p}")).exists();
    while !INTERRUPTED.load(Ordering::SeqCst) && (comm.is_some() || pid.is_some_and(alive)) {
        tracer.poll(Duration::from_millis(50), &mut events)?;
    }
    while tracer.poll(QUIET, &mut events)? > 0 {}
    let drops = tracer.drops()?;
    analysis::sort(&mut events);
    Ok((events, None, drops, attach_ms, tracer))
}
