//! `cri-e2e`: stands in for the kubelet in front of a real containerd. It walks the pod
//! cycle (`cycle`), checks how failures reach the user (`failures`), runs wasm modules in a
//! pod (`wasm`), runs a user-namespaced pod (`userns`), checks a spec's ociVersion
//! (`oci-version`), runs one plain pod (`smoke`) or holds one across a change (`hold`,
//! `release`), kills the shims and containerd while pods start and cleans up after the
//! restart (`crash-kill`, `crash-recover`), checks the flight recorder's Event on a broken
//! pod against an in-process fake API server (`events`), and times pod starts (`bench`) on one runtime handler; with `--otlp` it also
//! receives the runtime's spans and checks their tree.
//! tests/e2e-containerd/run.sh sets up the containerd it talks to. Prints one
//! `ok   HANDLER: step` line per passed check; the first failure ends the run.

// The installer's fake Kubernetes API server, shared with its tests and youki-trace's.
#[allow(dead_code)]
#[path = "../../../installer/tests/support/apiserver.rs"]
mod apiserver;
mod bench;
mod cgroup;
mod crash;
mod cri;
mod cycle;
mod events;
mod failures;
mod held;
mod ociver;
mod pod;
mod smoke;
mod spans;
mod stream;
mod userns;
mod wasm;

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Result};
use clap::{Parser, Subcommand};
use e2e_containerd::otlp;

#[derive(Parser)]
#[command(about = "Drives containerd's CRI as the kubelet does, against one runtime handler")]
struct Cli {
    /// containerd's grpc socket
    #[arg(long)]
    socket: PathBuf,
    /// The runtime handler (RuntimeClass) to run the pods with
    #[arg(long)]
    handler: String,
    /// The workload image, already imported into the k8s.io namespace
    #[arg(long, default_value = "localhost/youki-e2e/busybox:1")]
    image: String,
    /// Scratch space for host volumes and container logs
    #[arg(long)]
    work: PathBuf,
    /// Cgroup under which each pod gets its own parent (created and removed by us, as the kubelet does)
    #[arg(long)]
    cgroup_top: String,
    /// Receive OTLP/HTTP spans on this address and check them
    #[arg(long)]
    otlp: Option<SocketAddr>,
    /// A check known to fail on this handler (see run.sh): reported as xfail; passing fails
    #[arg(long)]
    xfail: Vec<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The kubelet's pod cycle with assertions at every step
    Cycle,
    /// A missing command and a bad mount: the user-visible error must name the cause
    Failures,
    /// WebAssembly modules as the pod's containers (the handler's youki has the wasm executor;
    /// --image names the wasm test image)
    Wasm,
    /// A user-namespaced pod (hostUsers: false): its own user namespace mapping container ids
    /// 0..65536 to host ids from --host-base, and an idmapped host volume (known-failure names userns-pod, idmap)
    Userns {
        #[arg(long)]
        host_base: u32,
        /// The volume without the mappings (a negative control: its checks must fail)
        #[arg(long)]
        plain_volume: bool,
    },
    /// The sandbox's and a container's spec carry --want as ociVersion (the handler's
    /// base_runtime_spec), and the runtime runs them
    OciVersion {
        #[arg(long)]
        want: String,
    },
    /// A pod on the node's network left running, its ids in WORK/held (for `release`)
    Hold,
    /// The held pod still answers an exec; then it is stopped and removed, nothing left
    Release,
    /// One pod on the node's network and one container with an exec, then nothing left;
    /// with --gone, containerd must refuse the handler instead
    Smoke {
        #[arg(long)]
        gone: bool,
    },
    /// PODS pods started at once; when one runs, SIGKILL to containerd's shims and then to
    /// containerd (CONTAINERD_PID); the pods are recorded in WORK/crash-HANDLER
    CrashKill {
        #[arg(long)]
        containerd_pid: i32,
        #[arg(long, default_value_t = 5)]
        pods: usize,
    },
    /// After containerd's restart: the recorded pods are listed, stopped and removed through
    /// the CRI (a bounded number of retries), and nothing is left under their cgroup parents
    CrashRecover,
    /// `youki-trace record --kube-api` while a pod's container fails to start: exactly one
    /// Event (YoukiCreateFailed) on that pod reaches the in-process fake API server
    Events {
        /// The youki-trace binary
        #[arg(long)]
        youki_trace: PathBuf,
    },
    /// Pod start latency (RunPodSandbox to the container running), as JSON
    Bench {
        #[arg(long, default_value_t = 10)]
        runs: usize,
        #[arg(long, default_value_t = 2)]
        warmup: usize,
    },
}

/// What every scenario works with.
pub struct Env {
    pub cri: cri::Cri,
    pub image: String,
    pub work: PathBuf,
    pub cgroup_top: String,
    pub receiver: Option<otlp::Receiver>,
    pub passed: usize,
    pub xfail: Vec<String>,
}

/// N random bytes from /dev/urandom, in hex.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    if buf.iter().all(|b| *b == 0) {
        buf[n - 1] = 1;
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Env {
    /// A fresh pod identity; with a trace parent, the pod carries it as the annotation the
    /// runtime reads.
    pub fn pod(&self, name: &str, parent: Option<&spans::Parent>) -> pod::Pod {
        let uid = random_hex(8);
        pod::Pod {
            name: name.to_string(),
            uid: uid.clone(),
            namespace: "youki-e2e".into(),
            cgroup_parent: format!("{}/pod-{uid}", self.cgroup_top),
            log_dir: self.work.join("logs").join(name).display().to_string(),
            annotations: parent.map(|p| HashMap::from([("io.youki.traceparent".to_string(), p.traceparent())])).unwrap_or_default(),
        }
    }

    pub fn ok(&mut self, what: &str, took: Duration) {
        self.passed += 1;
        let took = if took.is_zero() { String::new() } else { format!(" ({:.0} ms)", took.as_secs_f64() * 1000.0) };
        println!("ok   {}: {what}{took}", self.cri.handler);
    }

    /// A check that may be listed as known to fail: then a failure prints `xfail` and the
    /// run goes on, and a pass fails the run, so the listing is removed with the fix.
    pub fn known(&mut self, name: &str, what: &str, verdict: Result<()>, took: Duration) -> Result<()> {
        let listed = self.xfail.iter().any(|x| x == name);
        match (verdict, listed) {
            (Ok(()), false) => {
                self.ok(what, took);
                Ok(())
            }
            (Err(e), true) => {
                println!("xfail {}: {what} [{name}]: {e:#}", self.cri.handler);
                Ok(())
            }
            (Ok(()), true) => anyhow::bail!("{what} [{name}] passes: take it off the known failures"),
            (Err(e), false) => Err(e.context(what.to_string())),
        }
    }

    /// After a pod is gone: containerd knows no container or sandbox, and no cgroup is
    /// left under the pod's parent, which is then removed (the kubelet's part).
    pub async fn leftovers_of(&mut self, p: &pod::Pod) -> Result<()> {
        let known = self.cri.leftovers().await?;
        ensure!(known.is_empty(), "containerd still knows {known:?}");
        let dirs = cgroup::children_of(&p.cgroup_parent);
        ensure!(dirs.is_empty(), "cgroups left under the pod's parent: {dirs:?}");
        cgroup::remove(&p.cgroup_parent)?;
        self.ok("nothing left: no container or sandbox in containerd, no cgroup under the pod", Duration::ZERO);
        Ok(())
    }
}

async fn run(cli: Cli) -> Result<usize> {
    let receiver = cli.otlp.map(otlp::Receiver::start).transpose()?;
    let mut env = Env {
        cri: cri::connect(&cli.socket, &cli.handler).await?,
        image: cli.image,
        work: cli.work,
        cgroup_top: cli.cgroup_top,
        receiver,
        passed: 0,
        xfail: cli.xfail,
    };
    match cli.cmd {
        Cmd::Cycle => cycle::run(&mut env).await?,
        Cmd::Failures => failures::run(&mut env).await?,
        Cmd::Wasm => wasm::run(&mut env).await?,
        Cmd::Userns { host_base, plain_volume } => userns::run(&mut env, host_base, plain_volume).await?,
        Cmd::OciVersion { want } => ociver::run(&mut env, &want).await?,
        Cmd::Hold => held::hold(&mut env).await?,
        Cmd::Release => held::release(&mut env).await?,
        Cmd::Smoke { gone } => smoke::run(&mut env, gone).await?,
        Cmd::CrashKill { containerd_pid, pods } => crash::kill(&mut env, &cli.socket, containerd_pid, pods).await?,
        Cmd::CrashRecover => crash::recover(&mut env).await?,
        Cmd::Events { youki_trace } => events::run(&mut env, &youki_trace).await?,
        Cmd::Bench { runs, warmup } => bench::run(&mut env, runs, warmup).await?,
    }
    Ok(env.passed)
}

fn main() {
    let cli = Cli::parse();
    let handler = cli.handler.clone();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cri-e2e: tokio runtime: {e}");
            std::process::exit(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(_) => {}
        Err(e) => {
            println!("FAIL {handler}: {e:#}");
            std::process::exit(1);
        }
    }
}
