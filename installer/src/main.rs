//! `youki-installer`: the command line around the library, plus the DaemonSet loop (`run`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use nix::sys::signal::{SigSet, Signal};

use youki_installer::cri::{check_handler, Verdict};
use youki_installer::drift::{ConfigWatch, Decision, RepairBudget};
use youki_installer::error::HostError;
use youki_installer::features;
use youki_installer::handler::{Handlers, WASM_HANDLER};
use youki_installer::hostfs::HostRoot;
use youki_installer::kube_api::KubeNodes;
use youki_installer::labels::{NodeApi, READY_LABEL, UNINSTALL_LABEL, UNSUPPORTED};
use youki_installer::locate;
use youki_installer::node::{Node, STATE_DIR};
use youki_installer::restart::wait_for_socket;
use youki_installer::restart::{restart, Manager, Restart};
use youki_installer::rollout::{self, Rollout};

#[derive(Parser, Debug)]
#[command(name = "youki-installer", about = "Install youki on a Kubernetes node and remove it again")]
struct Cli {
    /// Where the host's root filesystem is mounted.
    #[arg(long, global = true, default_value = "/")]
    host_root: PathBuf,
    /// The config to edit, as the host sees it; detected when absent.
    #[arg(long, global = true)]
    containerd_config: Option<PathBuf>,
    /// How to make the container manager read the new config.
    #[arg(long, global = true, value_enum, default_value = "systemd")]
    restart: Restart,
    /// Print a unified diff of what would change; change nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// This node's name (for the label); `run` needs it.
    #[arg(long, global = true, env = "NODE_NAME")]
    node_name: Option<String>,
    /// Directory holding the `youki` (and optional `youki-trace`) binaries to place;
    /// defaults to the installer's own directory.
    #[arg(long, global = true)]
    source_dir: Option<PathBuf>,
    /// The manager's socket as the host sees it (overrides the detected one).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
    /// The proc filesystem that shows the host's processes (needs hostPID in a pod).
    #[arg(long, global = true, default_value = "/proc")]
    proc_dir: PathBuf,
    /// With `--restart signal`: stop this pid (else the pid file's, else the process that
    /// serves the manager's socket; never a process found by name).
    #[arg(long, global = true)]
    containerd_pid: Option<i32>,
    /// With `--restart signal`: the manager's pid file, as the host sees it.
    #[arg(long, global = true)]
    containerd_pid_file: Option<PathBuf>,
    /// Seconds to wait for a restart.
    #[arg(long, global = true, default_value_t = 60)]
    timeout: u64,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Place the binaries and add the `youki` handler; restart if the config changed.
    Install,
    /// Restore the config, restart, remove the binaries.
    Uninstall {
        /// Uninstall even while youki containers still run on the node.
        #[arg(long)]
        force: bool,
    },
    /// Show what is installed; exit 1 if anything is missing.
    Status,
    /// The chart's pre-delete hook: ask every node to uninstall and wait until every node
    /// that was ready is clean; exit 1 naming the nodes that are not after the timeout.
    Cleanup {
        /// Seconds to wait for the nodes.
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
    /// DaemonSet mode: install, label the node ready, serve /healthz and /readyz, and
    /// uninstall fully when the chart's pre-delete hook asks; SIGTERM alone keeps the node
    /// as it is (rolling update).
    Run {
        /// Address for /healthz and /readyz: where the kubelet's probes reach it (the chart
        /// passes the pod IP); the default serves only this network namespace's loopback.
        #[arg(long, default_value = "127.0.0.1:8088")]
        listen: String,
        /// Seconds between checks for an uninstall request and for drift of the config
        /// (a change in the config's directory wakes the check at once).
        #[arg(long, default_value_t = 5)]
        poll: u64,
        /// Repairs of a drifted config allowed in an hour; past that the installer stops
        /// repairing (another tool owns the file) and says so in a node Event.
        #[arg(long, default_value_t = 3)]
        repair_limit: usize,
        /// Do the one-shot part (install, restart, the CRI check, the feature labels) and
        /// exit, leaving the ready label, the probes and drift repair to a long-running
        /// `run`: the chart's privileged init container.
        #[arg(long)]
        once: bool,
        /// Leave the feature labels alone: the init container (`run --once`) set them, and
        /// their probes need privileges (CAP_SYS_ADMIN) a reduced container lacks.
        #[arg(long)]
        no_features: bool,
        #[command(flatten)]
        canary: CanaryArgs,
    },
}

/// The canary pod run through the CRI after a new youki binary is placed (see `rollout`).
#[derive(clap::Args, Debug)]
struct CanaryArgs {
    /// Place a new binary without a canary (it also never runs with `--restart none`).
    #[arg(long)]
    no_canary: bool,
    /// The canary container's image; default: the manager's sandbox image (every node has
    /// it), else the canary is the pod sandbox alone.
    #[arg(long)]
    canary_image: Option<String>,
    /// The canary pod's cgroup parent, as the kubelet would pass it; default: the runtime's.
    #[arg(long, default_value = "")]
    canary_cgroup_parent: String,
}

fn node(cli: &Cli, force: bool) -> Result<Node> {
    let mut target = match &cli.containerd_config {
        Some(p) => locate::explicit(&cli.host_root, p),
        None => locate::detect(&cli.host_root)?,
    };
    if let Some(s) = &cli.socket {
        target.socket = s.clone();
    }
    let source_dir = match &cli.source_dir {
        Some(d) => d.clone(),
        None => std::env::current_exe()
            .context("find the installer's own path")?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    let mut binaries = vec![source_dir.join("youki")];
    let trace = source_dir.join("youki-trace");
    if trace.exists() {
        binaries.push(trace);
    }
    // The wasm build, shipped beside youki when the image has it: its own handler.
    let wasm = source_dir.join(WASM_HANDLER);
    let wasm_shipped = wasm.exists();
    if wasm_shipped {
        binaries.push(wasm);
    }
    let handlers = Handlers::new(wasm_shipped);
    Ok(Node { host_root: cli.host_root.clone(), target, handlers, binaries, dry_run: cli.dry_run, force })
}

/// Restarts when the config changed, or when an earlier restart did not finish (a marker in
/// the state dir survives a crash, so the next run restarts even though nothing changed).
/// After a restart, checks through the CRI that the handler is known (`wanted`) or gone.
/// Returns whether it restarted (and so checked).
fn restart_if(cli: &Cli, node: &Node, changed: bool, wanted: bool) -> Result<bool> {
    let host = node.root()?;
    let state_dir = Path::new(STATE_DIR);
    let pending = state_dir.join("restart-pending");
    if cli.dry_run || cli.restart == Restart::None || (!changed && !host.exists(&pending)) {
        return Ok(false);
    }
    host.replace_atomically(&pending, b"", 0o600)?;
    let t = &node.target;
    let socket = socket_path(&host, &t.socket);
    let manager = Manager {
        host_root: &cli.host_root,
        unit: &t.unit,
        process: t.process,
        pid: cli.containerd_pid,
        pid_file: cli.containerd_pid_file.as_deref(),
        proc_dir: &cli.proc_dir,
        socket: &socket,
    };
    restart(cli.restart, &manager, Duration::from_secs(cli.timeout)).with_context(|| format!("restart {}", t.unit))?;
    host.remove_optional(&pending)?;
    // After an uninstall the marker was the last thing in the state dir.
    host.remove_dir_if_empty(state_dir);
    if let Some(parent) = state_dir.parent() {
        host.remove_dir_if_empty(parent);
    }
    println!("restarted {} ({:?})", t.unit, cli.restart);
    verify(cli, node, wanted)?;
    Ok(true)
}

/// The manager's socket as a path in the installer's filesystem, its directory's links
/// resolved inside the host root (`/var/run` is a link to `/run` on most hosts); sockets are
/// reached by path, so the socket itself may come and go during a restart.
fn socket_path(host: &HostRoot, socket: &Path) -> PathBuf {
    let name = socket.file_name().unwrap_or_default();
    socket.parent().and_then(|dir| host.pod_path(dir).ok()).map(|dir| dir.join(name)).unwrap_or_else(|| host.shown(socket))
}

/// Waits until the manager answers, then asks its CRI whether it knows each registered
/// handler (`wanted`) or none of them any more (after an uninstall). A retired handler is not
/// asked about: one of that name written by hand for another binary stays.
fn verify(cli: &Cli, node: &Node, wanted: bool) -> Result<()> {
    let socket = socket_path(&node.root()?, &node.target.socket);
    let timeout = Duration::from_secs(cli.timeout);
    wait_for_socket(&socket, timeout).context("wait for the container manager")?;
    for name in node.handlers.wanted().iter().map(|h| &h.name) {
        match check_handler(&socket, name, wanted, timeout)? {
            Verdict::AsWanted if wanted => println!("CRI: {} knows the {name:?} handler", socket.display()),
            Verdict::AsWanted => println!("CRI: {} no longer knows the {name:?} handler", socket.display()),
            Verdict::CannotTell => {
                println!("CRI: {} answers but does not list its runtime handlers; the {name:?} handler was not checked", socket.display())
            }
        }
    }
    Ok(())
}

fn print(messages: &[String]) {
    for m in messages {
        println!("{}", m.trim_end());
    }
}

fn install(cli: &Cli, node: &Node) -> Result<bool> {
    let out = node.install().context("install")?;
    print(&out.messages);
    restart_if(cli, node, out.config_changed, true)
}

fn uninstall(cli: &Cli, node: &Node) -> Result<bool> {
    let out = node.uninstall().context("uninstall")?;
    if !cli.dry_run {
        rollout::forget(&node.root()?, Path::new(&node.handlers.youki.binary)).context("uninstall")?;
    }
    print(&out.messages);
    restart_if(cli, node, out.config_changed, false)
}

/// Serves /healthz (always 200) and /readyz (200 once `ready`); see `health`.
fn serve_health(listen: &str, ready: Arc<AtomicBool>) -> Result<()> {
    let listener = TcpListener::bind(listen).with_context(|| format!("listen on {listen}"))?;
    youki_installer::health::serve(listener, ready);
    Ok(())
}

/// Whether `e` is a refusal to edit a config on a read-only filesystem.
fn read_only(e: &anyhow::Error) -> bool {
    e.chain().any(|c| matches!(c.downcast_ref::<HostError>(), Some(HostError::ReadOnly { .. })))
}

/// Probes what the node can do and labels it (`features`); a failure is logged, not fatal.
fn label_features(node: &Node, api: &KubeNodes, name: &str) {
    let Ok(host) = node.root() else { return };
    let youki = node.binaries.first().cloned().unwrap_or_default();
    // The wasm labels come from the binary behind the `youki-wasm` handler, so the
    // `youki-wasm` RuntimeClass lands only where that handler is configured.
    let wasm = node.handlers.wasm.as_ref().and_then(|_| node.binaries.iter().find(|b| b.ends_with(WASM_HANDLER)));
    let found = features::probe(&host, &youki, wasm.map(PathBuf::as_path), Path::new("/sys/fs/cgroup"));
    let labels = features::labels(&found);
    let on: Vec<&str> = labels.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.trim_start_matches(features::FEATURE_PREFIX)).collect();
    match api.set_labels(name, &labels) {
        Ok(()) => println!("node {name} features: {}", if on.is_empty() { "none".to_string() } else { on.join(", ") }),
        Err(e) => eprintln!("label the node's features: {e:#}"),
    }
}

/// Repairs drift (see `drift`) within the budget. The ready label goes while the node is
/// not ready, each repair is recorded as an Event on the node, and a spent budget stops the
/// repairs with an Event that says why.
fn repair_drift(cli: &Cli, node: &Node, api: &KubeNodes, name: &str, budget: &mut RepairBudget) {
    let drift = match node.drift() {
        Ok(d) if d.is_empty() => return,
        Ok(d) => d.join("; "),
        Err(e) => {
            eprintln!("check the node for drift: {e:#}");
            return;
        }
    };
    let limit = budget.limit();
    let unlabel = || {
        if let Err(e) = api.set_label(name, READY_LABEL, None) {
            eprintln!("remove the ready label: {e:#}");
        }
    };
    let event = |reason: &str, message: &str| {
        if let Err(e) = api.record_event(name, reason, message) {
            eprintln!("record event {reason}: {e:#}");
        }
    };
    match budget.decide(Instant::now()) {
        Decision::Stopped => {}
        Decision::Stop => {
            let message = format!(
                "not repairing: {drift}; repaired {limit} time(s) within the last hour, so another tool \
                 keeps rewriting it; the node stays unlabelled until this pod restarts"
            );
            eprintln!("{message}");
            unlabel();
            event("YoukiRepairStopped", &message);
        }
        Decision::Repair { nth } => {
            println!("drift: {drift}; repair {nth} of at most {limit} an hour");
            // No new youki pod lands here while the handler is missing.
            unlabel();
            let repaired = install(cli, node).and_then(|checked| {
                if cli.restart != Restart::None && !checked {
                    verify(cli, node, true)?;
                }
                Ok(())
            });
            match repaired {
                Ok(()) => {
                    event("YoukiRepaired", &format!("repaired: {drift} (repair {nth} of at most {limit} an hour)"));
                    match api.set_label(name, READY_LABEL, Some("ready")) {
                        Ok(()) => println!("repaired: node {name} labelled {READY_LABEL}=ready again"),
                        Err(e) => eprintln!("label the node ready: {e:#}"),
                    }
                }
                Err(e) => {
                    let message = format!("repair failed: {drift}: {e:#}");
                    eprintln!("{message}");
                    event("YoukiRepairFailed", &message);
                }
            }
        }
    }
}

/// Before the install: keeps the placed binary and holds the ready label while a canary is
/// pending (see `rollout`); None when no canary runs.
fn start_rollout(cli: &Cli, node: &Node, args: &CanaryArgs, api: &KubeNodes, name: &str) -> Result<Option<Rollout>> {
    let Some(src) = node.binaries.first() else { return Ok(None) };
    if args.no_canary || cli.restart == Restart::None || cli.dry_run {
        return Ok(None);
    }
    let new = std::fs::read(src).with_context(|| format!("read {}", src.display()))?;
    let mut r = Rollout::prepare(&node.root()?, Path::new(&node.handlers.youki.binary), &new).context("keep the previous binary")?;
    if let Err(e) = r.hold_label(api, name) {
        eprintln!("hold the ready label during the canary: {e:#}");
    }
    Ok(Some(r))
}

/// Runs the canary of a rollout and acts on it; returns whether the pod may report ready.
fn finish_rollout(cli: &Cli, node: &Node, args: &CanaryArgs, rollout: &Rollout, api: &KubeNodes, name: &str) -> Result<bool> {
    if !rollout.needs_canary() {
        return Ok(true);
    }
    let host = node.root()?;
    let config = youki_installer::canary::CanaryConfig {
        handler: node.handlers.youki.name.clone(),
        image: args.canary_image.clone(),
        cgroup_parent: args.canary_cgroup_parent.clone(),
        timeout: Duration::from_secs(cli.timeout),
    };
    let socket = socket_path(&host, &node.target.socket);
    let mut canary = || match youki_installer::canary::run(&socket, &config) {
        Ok(ran) => {
            println!("canary passed: a pod with handler {:?} ran ({})", config.handler, ran.image.as_deref().unwrap_or("sandbox only"));
            rollout::Outcome::Passed
        }
        Err(e) => rollout::Outcome::Failed(e.to_string()),
    };
    let mut log = Vec::new();
    let verdict = rollout.finish(&host, api, name, &mut canary, &mut log);
    for line in &log {
        eprintln!("{line}");
    }
    Ok(verdict.context("finish the rollout")?.pod_ready)
}

/// What the one-shot part of `run` left.
struct Started {
    /// youki is installed and stays: drift repair may keep it so.
    installed: bool,
    /// The pod may report ready and the node be labelled ready (false after a failed canary).
    pod_ready: bool,
}

/// The one-shot part of `run`: install, restart and check through the CRI, the canary of a
/// changed binary (see `rollout`), then the feature labels (unless `features` is false). A
/// config on a read-only store is the node's own to change, so the node is labelled
/// unsupported with the reason as an Event, and this returns not installed instead of failing
/// (crash-looping would not help, and the rollout goes on).
fn start(cli: &Cli, node: &Node, api: &KubeNodes, name: &str, features: bool, canary: &CanaryArgs) -> Result<Started> {
    let rollout = start_rollout(cli, node, canary, api, name)?;
    match install(cli, node) {
        Ok(checked) => {
            // Also after a crash and a no-op reinstall: label only a manager whose CRI knows youki.
            if cli.restart != Restart::None && !checked {
                verify(cli, node, true)?;
            }
            let pod_ready = match &rollout {
                Some(r) => finish_rollout(cli, node, canary, r, api, name)?,
                None => true,
            };
            if features {
                label_features(node, api, name);
            }
            // Not ready after a failed canary: no repair places the new binary again.
            Ok(Started { installed: pod_ready, pod_ready })
        }
        Err(e) if read_only(&e) => {
            let message = format!("{e:#}");
            eprintln!("{message}");
            // The reason first, so whoever sees the label finds it.
            if let Err(ev) = api.record_event(name, "YoukiUnsupported", &message) {
                eprintln!("record the reason as an event: {ev:#}");
            }
            api.set_label(name, READY_LABEL, Some(UNSUPPORTED)).context("label the node unsupported")?;
            println!("node {name} labelled {READY_LABEL}={UNSUPPORTED}");
            Ok(Started { installed: false, pod_ready: true })
        }
        Err(e) => Err(e),
    }
}

/// `run --once`, the chart's privileged init container: the one-shot part, then exit. The
/// ready label, the probes and drift repair are the long-running `run`'s. A failed canary
/// fails the init container, so the pod never gets ready and the rolling update stops here.
fn run_once(cli: &Cli, node: &Node, canary: &CanaryArgs) -> Result<()> {
    let Some(name) = cli.node_name.as_deref() else { bail!("run needs --node-name or NODE_NAME") };
    let api = KubeNodes::connect().context("connect to the Kubernetes API")?;
    let started = start(cli, node, &api, name, true, canary)?;
    if !started.pod_ready {
        bail!("canary failed on node {name}: the previous binary is kept and this pod stays not ready");
    }
    if started.installed {
        println!("node {name}: installed; the ready label is left to the long-running installer");
    }
    Ok(())
}

fn run(cli: &Cli, node: &Node, listen: &str, poll: u64, repair_limit: usize, features: bool, canary: &CanaryArgs) -> Result<()> {
    let Some(name) = cli.node_name.as_deref() else { bail!("run needs --node-name or NODE_NAME") };
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals.thread_block().context("block SIGTERM")?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    std::thread::spawn(move || {
        if signals.wait().is_ok() {
            stop_flag.store(true, Ordering::SeqCst);
        }
    });
    let ready = Arc::new(AtomicBool::new(false));
    serve_health(listen, ready.clone())?;
    let api = KubeNodes::connect().context("connect to the Kubernetes API")?;

    let Started { installed, pod_ready } = start(cli, node, &api, name, features, canary)?;
    if pod_ready && installed {
        api.set_label(name, READY_LABEL, Some("ready")).context("label the node ready")?;
        println!("node {name} labelled {READY_LABEL}=ready");
    } else if !pod_ready {
        // Not ready: the rolling update stops here.
        eprintln!("canary failed: this pod stays not ready, so the rollout stops at node {name}");
    }
    ready.store(pod_ready, Ordering::SeqCst);

    // The config's directory as the installer sees it (its links resolved in the host root).
    let watch = node.target.path.parent().and_then(|dir| node.root().ok()?.pod_path(dir).ok()).map(|dir| ConfigWatch::new(&dir));
    let mut budget = RepairBudget::new(repair_limit, Duration::from_secs(3600));
    let mut uninstalled = false;
    let mut deferred = false;
    while !stop.load(Ordering::SeqCst) {
        match &watch {
            Some(w) => {
                w.wait(Duration::from_secs(poll));
            }
            None => std::thread::sleep(Duration::from_secs(poll)),
        }
        if uninstalled {
            continue;
        }
        match api.label(name, UNINSTALL_LABEL) {
            Ok(Some(_)) => {
                // Unlabel first, so no new youki pod lands here while we wait.
                ready.store(false, Ordering::SeqCst);
                if let Err(e) = api.set_label(name, READY_LABEL, None) {
                    eprintln!("remove the ready label: {e:#}");
                    continue;
                }
                match uninstall(cli, node).and_then(|_| Ok(api.set_label(name, UNINSTALL_LABEL, None)?)) {
                    Ok(()) => {
                        println!("node {name} is clean");
                        uninstalled = true;
                    }
                    // Deferred: the hook waits, and the next poll tries again.
                    Err(e) => {
                        eprintln!("uninstall deferred: {e:#}");
                        deferred = true;
                    }
                }
            }
            // The hook gave up (its timeout) and withdrew the request: youki stays, ready again.
            // After a failed canary the pod stays not ready and the node unlabelled.
            Ok(None) if deferred && !pod_ready => {
                deferred = false;
                println!("uninstall request withdrawn: node {name} stays unlabelled after its failed canary");
            }
            Ok(None) if deferred => match api.set_label(name, READY_LABEL, Some("ready")) {
                Ok(()) => {
                    deferred = false;
                    ready.store(true, Ordering::SeqCst);
                    println!("uninstall request withdrawn: node {name} labelled ready again");
                }
                Err(e) => eprintln!("label the node ready: {e:#}"),
            },
            Ok(None) => {}
            Err(e) => eprintln!("read node labels: {e:#}"),
        }
        if installed && !uninstalled && !deferred && !stop.load(Ordering::SeqCst) {
            repair_drift(cli, node, &api, name, &mut budget);
        }
    }
    println!("SIGTERM: leaving binaries and config in place (a rolling update keeps running pods working)");
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Cmd::Install => install(&cli, &node(&cli, false)?).map(drop),
        Cmd::Uninstall { force } => uninstall(&cli, &node(&cli, *force)?).map(drop),
        Cmd::Status => {
            let (ok, lines) = node(&cli, false)?.status()?;
            print(&lines);
            if !ok {
                std::process::exit(1);
            }
            Ok(())
        }
        Cmd::Cleanup { wait } => {
            let api = KubeNodes::connect().context("connect to the Kubernetes API")?;
            let left = youki_installer::labels::cleanup(&api, Duration::from_secs(*wait), Duration::from_secs(2))?;
            if !left.is_empty() {
                bail!("nodes not clean after {wait}s (youki pods still running there?): {}", left.join(", "));
            }
            println!("every node is clean");
            Ok(())
        }
        Cmd::Run { once: true, canary, .. } => run_once(&cli, &node(&cli, false)?, canary),
        Cmd::Run { listen, poll, repair_limit, no_features, canary, .. } => {
            run(&cli, &node(&cli, false)?, listen, *poll, *repair_limit, !no_features, canary)
        }
    }
}
