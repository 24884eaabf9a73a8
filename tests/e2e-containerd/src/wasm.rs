//! WebAssembly workloads in a Kubernetes pod (issue 9): the pod's sandbox is the native
//! pause binary and its containers are wasm modules, all through one runtime handler whose
//! youki has the wasm executor. One container is picked by its `.wasm` args[0], one by the
//! `run.oci.handler: wasm` container annotation (containerd passes it on only because the
//! handler's `container_annotations` allowlist names it). Asserts the module's output in the
//! CRI log, its exit code as the container's, and that nothing is left.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use k8s_cri::v1 as cri;

use crate::cri::timed;
use crate::pod::{self, GREETING};
use crate::{cgroup, Env};

/// The annotation that selects the wasm executor, as crun and youki read it.
pub const HANDLER_ANNOTATION: (&str, &str) = ("run.oci.handler", "wasm");
/// Modules in the wasm test image (tests/wasm/modules, compiled by run.sh).
pub const ARGS_MODULE: &str = "/wasm/args.wasm";
/// exit3.wasm under a name without the extension: only the annotation can select wasm.
pub const EXIT3_MODULE: &str = "/wasm/exit3-module";

/// A container running MODULE with ARGS; the annotation when `annotated`.
pub fn module(name: &str, image: &str, command: &[&str], annotated: bool) -> cri::ContainerConfig {
    let annotations =
        if annotated { HashMap::from([(HANDLER_ANNOTATION.0.to_string(), HANDLER_ANNOTATION.1.to_string())]) } else { HashMap::new() };
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: name.into(), attempt: 0 }),
        image: Some(cri::ImageSpec { image: image.into(), ..Default::default() }),
        command: command.iter().map(|s| s.to_string()).collect(),
        envs: vec![cri::KeyValue { key: GREETING.0.into(), value: GREETING.1.into() }],
        annotations,
        log_path: format!("{name}.log"),
        linux: Some(cri::LinuxContainerConfig {
            resources: Some(pod::limits(64 << 20, 50_000, 256)),
            security_context: Some(cri::LinuxContainerSecurityContext {
                namespace_options: Some(pod::namespaces(cri::NamespaceMode::Container)),
                ..Default::default()
            }),
        }),
        ..Default::default()
    }
}

/// The stdout lines of a CRI log file (`TIME stdout F LINE`).
pub fn stdout_lines(log: &str) -> Vec<&str> {
    log.lines().filter_map(|l| l.split_once(" stdout F ").map(|(_, line)| line)).collect()
}

pub async fn run(env: &mut Env) -> Result<()> {
    let handler = env.cri.handler.clone();
    let p = env.pod(&format!("wasm-{handler}"), None);
    std::fs::create_dir_all(&p.log_dir)?;
    let sandbox = pod::sandbox(&p);
    let (r, d) = timed(env.cri.run_pod(&sandbox)).await;
    let pod_id = r?;
    env.ok("RunPodSandbox: the native pause binary through the wasm-enabled youki", d);
    let result = containers(env, &sandbox, &pod_id, &p.log_dir).await;
    if result.is_err() {
        env.cri.force_remove_pod(&pod_id).await;
        let _ = cgroup::remove(&p.cgroup_parent);
        return result;
    }
    env.cri.stop_pod(&pod_id).await?;
    env.cri.remove_pod(&pod_id).await?;
    env.leftovers_of(&p).await
}

async fn containers(env: &mut Env, sandbox: &cri::PodSandboxConfig, pod_id: &str, log_dir: &str) -> Result<()> {
    let image = env.image.clone();
    let by_name = module("args", &image, &[ARGS_MODULE, "one", "two words"], false);
    let code = run_to_exit(env, pod_id, sandbox, by_name).await.context("args.wasm")?;
    ensure!(code == 0, "args.wasm exited {code}, want 0");
    let log = std::fs::read_to_string(Path::new(log_dir).join("args.log")).context("read args.log")?;
    let lines = stdout_lines(&log);
    let want = [format!("arg: {ARGS_MODULE}"), "arg: one".into(), "arg: two words".into(), format!("env: {}={}", GREETING.0, GREETING.1)];
    let missing: Vec<&String> = want.iter().filter(|w| !lines.contains(&w.as_str())).collect();
    ensure!(missing.is_empty(), "the CRI log of args.wasm lacks {missing:?}: {lines:?}");
    env.ok("a .wasm args[0] runs as a module: its args and env in the CRI log, exit 0", Duration::ZERO);

    let annotated = module("exit3", &image, &[EXIT3_MODULE], true);
    let code = run_to_exit(env, pod_id, sandbox, annotated).await.context("exit3 module")?;
    ensure!(code == 3, "the exit3 module's container exited {code}, want 3");
    let log = std::fs::read_to_string(Path::new(log_dir).join("exit3.log")).context("read exit3.log")?;
    ensure!(stdout_lines(&log).contains(&"exiting with 3"), "the CRI log of exit3 lacks its line: {log:?}");
    env.ok("run.oci.handler=wasm picks the executor for a module without .wasm; its exit code 3 is the container's", Duration::ZERO);
    Ok(())
}

/// Creates and starts CONFIG, waits for it to exit, removes it, and returns its exit code.
async fn run_to_exit(env: &mut Env, pod_id: &str, sandbox: &cri::PodSandboxConfig, config: cri::ContainerConfig) -> Result<i32> {
    let id = env.cri.create(pod_id, config, sandbox).await?;
    let started = env.cri.start(&id).await;
    let waited = match started {
        Ok(()) => wait_exited(env, &id).await,
        Err(e) => Err(e.into()),
    };
    env.cri.remove(&id).await?;
    waited
}

async fn wait_exited(env: &mut Env, id: &str) -> Result<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, _) = env.cri.status(id, false).await?;
        if s.state == cri::ContainerState::ContainerExited as i32 {
            return Ok(s.exit_code);
        }
        ensure!(Instant::now() < deadline, "container {id} still in state {} after 30 s", s.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_annotated_container_carries_the_handler_annotation() {
        let a = module("a", "img", &[ARGS_MODULE], false);
        assert!(a.annotations.is_empty());
        assert_eq!(a.command[0], ARGS_MODULE);
        let b = module("b", "img", &[EXIT3_MODULE], true);
        assert_eq!(b.annotations["run.oci.handler"], "wasm");
        assert!(!EXIT3_MODULE.ends_with(".wasm"));
        assert_eq!(b.log_path, "b.log");
    }

    #[test]
    fn stdout_lines_come_from_cri_log_format() {
        let log =
            "2026-11-25T07:00:00.1Z stdout F arg: one\n2026-11-25T07:00:00.2Z stderr F oops\n2026-11-25T07:00:00.3Z stdout F env: A=b\n";
        assert_eq!(stdout_lines(log), ["arg: one", "env: A=b"]);
    }
}
