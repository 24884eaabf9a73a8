//! `exec`: the process comes from `--process FILE`, or from the container's own process with
//! the flags applied.

use std::path::Path;

use anyhow::{bail, Context, Result};
use libcontainer::create::Console;
use libcontainer::lifecycle::exec::ExecOptions;
use libcontainer::lifecycle::exec_process::{ExecProcess, Overrides};
use liboci_cli::Exec;

pub fn exec(root: &Path, e: Exec) -> Result<i32> {
    let process = match &e.process {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read process file {path:?}"))?;
            ExecProcess::File(Box::new(parse_process(&text).with_context(|| format!("invalid process file {path:?}"))?))
        }
        None => {
            if e.command.is_empty() {
                bail!("exec needs a command or --process");
            }
            ExecProcess::Flags(Overrides {
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
            })
        }
    };
    let console = match (&e.console_socket, e.detach) {
        (Some(p), _) => Console::Socket(p.clone()),
        (None, false) => Console::Proxy,
        (None, true) => Console::None,
    };
    let executor = super::executors::all();
    Ok(libcontainer::lifecycle::exec::exec(ExecOptions {
        root,
        id: &e.container_id,
        process,
        console,
        pid_file: e.pid_file.as_deref(),
        detach: e.detach,
        preserve_fds: e.preserve_fds as i32,
        ignore_paused: e.ignore_paused,
        executor: &executor,
        sub_cgroups: &e.cgroup,
        pidfd_socket: e.pidfd_socket.as_deref(),
    })?)
}

/// A process.json: straight from the bytes (errors keep their line), or, when it leaves out
/// `user` (runc then runs it as uid 0, gid 0) or uses the runtime-spec names of scheduler
/// flags that oci-spec spells otherwise, through those fixes.
fn parse_process(text: &[u8]) -> serde_json::Result<oci_spec::runtime::Process> {
    serde_json::from_slice(text).or_else(|e| {
        let mut v: serde_json::Value = serde_json::from_slice(text)?;
        let defaulted = default_user(&mut v);
        let respelled = libcontainer::plan::process_extra::respell_sched_flags(Some(&mut v));
        if defaulted || respelled {
            serde_json::from_value(v)
        } else {
            Err(e)
        }
    })
}

/// Puts `"user": {"uid": 0, "gid": 0}` in a process object that has no `user`; true when it
/// did. Anything else (a `user` of the wrong shape) is left for the parser to refuse.
fn default_user(v: &mut serde_json::Value) -> bool {
    match v.as_object_mut() {
        Some(obj) if !obj.contains_key("user") => {
            obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_file_without_user_runs_as_root() {
        let p = parse_process(br#"{"args": ["id"], "cwd": "/"}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        let p = parse_process(br#"{"args": ["id"], "cwd": "/", "user": {"uid": 7, "gid": 8}}"#).unwrap();
        assert_eq!((p.user().uid(), p.user().gid()), (7, 8));
    }

    #[test]
    fn other_errors_in_a_process_file_stay() {
        // A user of the wrong shape, a missing cwd: still refused, naming the field.
        let e = parse_process(br#"{"args": ["id"], "cwd": "/", "user": {"uid": "x"}}"#).unwrap_err();
        assert!(e.to_string().contains("invalid type"), "{e}");
        let e = parse_process(br#"{"args": ["id"]}"#).unwrap_err();
        assert!(e.to_string().contains("missing field `cwd`"), "{e}");
        assert!(parse_process(b"[1]").is_err());
    }
}
