//! `exec`: the process comes from `--process FILE`, or from the container's own process with
//! the flags applied.

use std::path::Path;

use anyhow::{bail, Context, Result};
use liboci_cli::Exec;
use libcontainer::create::Console;
use libcontainer::exec::{ExecOptions, Overrides};

pub fn exec(root: &Path, e: Exec) -> Result<i32> {
    if !e.cgroup.is_empty() {
        // runc's sub-cgroup placement; refused rather than silently run in the container's own.
        bail!("exec --cgroup {:?}: running the process in a sub-cgroup is not supported yet", e.cgroup.join(","));
    }
    let process = match &e.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read process file {path:?}"))?;
            parse_process(&text).with_context(|| format!("invalid process file {path:?}"))?
        }
        None => {
            if e.command.is_empty() {
                bail!("exec needs a command or --process");
            }
            let state = libcontainer::lifecycle::state(root, &e.container_id)?;
            let (_, spec) = libcontainer::create::load_spec(&state.bundle)?;
            let Some(base) = spec.process() else { bail!("config.json of {:?} has no process", e.container_id) };
            let o = Overrides {
                args: e.command.clone(),
                env: e.env.clone(),
                cwd: e.cwd.clone(),
                user: e.user.clone(),
                additional_gids: e.additional_gids.clone(),
                caps: e.cap.clone(),
                no_new_privs: e.no_new_privs,
                tty: e.tty,
                apparmor: e.apparmor.clone(),
                process_label: e.process_label.clone(),
            };
            libcontainer::exec::process_from_flags(base, &o)?
        }
    };
    let console = match (&e.console_socket, e.detach) {
        (Some(p), _) => Console::Socket(p.clone()),
        (None, false) => Console::Proxy,
        (None, true) => Console::None,
    };
    let executor = super::executors::all();
    Ok(libcontainer::exec::exec(ExecOptions {
        root,
        id: &e.container_id,
        process,
        console,
        pid_file: e.pid_file.as_deref(),
        detach: e.detach,
        preserve_fds: e.preserve_fds as i32,
        ignore_paused: e.ignore_paused,
        executor: &executor,
    })?)
}

/// A process.json: straight from the bytes (errors keep their line), or, when it uses the
/// runtime-spec names of scheduler flags that oci-spec spells otherwise, through a respelling.
fn parse_process(text: &[u8]) -> serde_json::Result<oci_spec::runtime::Process> {
    serde_json::from_slice(text).or_else(|e| {
        let mut v: serde_json::Value = serde_json::from_slice(text)?;
        if libcontainer::process_extra::respell_sched_flags(Some(&mut v)) {
            serde_json::from_value(v)
        } else {
            Err(e)
        }
    })
}
