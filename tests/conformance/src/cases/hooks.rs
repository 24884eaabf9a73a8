//! Hooks: all six kinds run once, in lifecycle order, with the state on stdin, in the right
//! namespaces, with their args and env; a timeout is honoured and a failing hook undoes create.
//!
//! Every hook runs one shell script that appends a line `NAME|mnt ns|uts ns|args|HOOK_VAR|state`
//! to a log. The log's dir is bind-mounted at /hooklog, so the startContainer hook (resolved in
//! the container) and the process write to the same file; the harness adds its own markers.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::{check, check_eq, spec};
use anyhow::{Context, Result};
use serde_json::Value;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    let m = "hooks";
    vec![
        Case::new(m, "order", order)
            .runc_xfail("runc 1.1.5 runs poststart hooks during create, before start runs the program")
            .runc13_xfail("runc 1.3 still runs poststart hooks during create, before start runs the program"),
        Case::new(m, "state_on_stdin", state_on_stdin),
        Case::new(m, "namespaces", namespaces),
        Case::new(m, "args_and_env", args_and_env),
        Case::new(m, "timeout_fails_create", timeout_fails_create),
        Case::new(m, "failing_create_runtime_undoes_create", failing_create_runtime),
        Case::new(m, "failing_poststop_is_only_a_warning", failing_poststop)
            .runc_xfail("runc 1.1.5 skips the poststop hooks after a failing one (delete itself succeeds)")
            .runc13_xfail("runc 1.3 fails delete at the first failing poststop hook; runtime.md step 13 makes it a warning"),
    ]
}

const SCRIPT: &str = r#"#!/bin/sh
name=$1; log=$2; shift 2
state=$(cat | tr -d '\n')
printf '%s|%s|%s|%s|%s|%s\n' "$name" "$(readlink /proc/self/ns/mnt)" "$(readlink /proc/self/ns/uts)" "$*" "$HOOK_VAR" "$state" >> "$log"
"#;

const HOSTNAME: &str = "hooked";
const HOST_HOOKS: [&str; 5] = ["prestart", "createRuntime", "createContainer", "poststart", "poststop"];

/// One line of the hook log.
#[derive(Debug, Clone)]
struct Entry {
    name: String,
    mnt_ns: String,
    uts_ns: String,
    args: String,
    env: String,
    state: Option<Value>,
}

fn parse_log(text: &str) -> Vec<Entry> {
    text.lines()
        .map(|line| {
            let f: Vec<&str> = line.splitn(6, '|').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            Entry {
                name: get(0),
                mnt_ns: get(1),
                uts_ns: get(2),
                args: get(3),
                env: get(4),
                state: f.get(5).and_then(|s| serde_json::from_str(s).ok()),
            }
        })
        .collect()
}

/// The hook log dir on the host, with the script and an empty, world-writable log.
struct HookDir {
    dir: PathBuf,
}

impl HookDir {
    fn new(ctx: &Ctx) -> Result<HookDir> {
        let dir = ctx.path("hooklog");
        crate::bundle::make_dir(&dir)?;
        fs::write(dir.join("hook.sh"), SCRIPT).context("writing hook.sh")?;
        fs::write(dir.join("log"), "").context("creating the hook log")?;
        Ok(HookDir { dir })
    }

    fn host(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn mark(&self, what: &str) -> Result<()> {
        let mut f = OpenOptions::new().append(true).open(self.dir.join("log")).context("opening the hook log")?;
        writeln!(f, "harness:{what}|||||").context("writing a harness marker")
    }

    fn entries(&self) -> Result<Vec<Entry>> {
        Ok(parse_log(&fs::read_to_string(self.dir.join("log")).context("reading the hook log")?))
    }
}

/// A hook running hook.sh: host paths for runtime-namespace hooks and createContainer (which
/// runs before pivot_root), container paths for startContainer.
fn logging_hook(hd: &HookDir, kind: &str, extra_args: &[&str]) -> Value {
    let (script, log) = if kind == "startContainer" {
        ("/hooklog/hook.sh".to_string(), "/hooklog/log".to_string())
    } else {
        (hd.host("hook.sh"), hd.host("log"))
    };
    let mut args = vec!["sh", script.as_str(), kind, log.as_str()];
    args.extend_from_slice(extra_args);
    let env_var = format!("HOOK_VAR={kind}-env");
    spec::hook("/bin/sh", &args, &["PATH=/usr/sbin:/usr/bin:/sbin:/bin", &env_var], None)
}

/// What a full lifecycle with all six hooks logged.
struct HookRun {
    entries: Vec<Entry>,
    id: String,
    bundle: PathBuf,
    created_pid: i64,
}

impl HookRun {
    fn index(&self, name: &str) -> Result<usize> {
        let hits: Vec<usize> = self.entries.iter().enumerate().filter(|(_, e)| e.name == name).map(|(i, _)| i).collect();
        check!(hits.len() == 1, "{name} appears {} times in the hook log: {:?}", hits.len(), self.names());
        Ok(hits[0])
    }

    fn entry(&self, name: &str) -> Result<&Entry> {
        Ok(&self.entries[self.index(name)?])
    }

    fn names(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.name.as_str()).collect()
    }
}

fn full_lifecycle(ctx: &mut Ctx) -> Result<HookRun> {
    let hd = HookDir::new(ctx)?;
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/hostname", serde_json::json!(HOSTNAME))?;
    spec::add_mount(&mut b.config, spec::mount("/hooklog", "none", &hd.dir.to_string_lossy(), &["bind", "rw"]))?;
    for kind in HOST_HOOKS.iter().chain(["startContainer"].iter()) {
        spec::add_hook(&mut b.config, kind, logging_hook(&hd, kind, &["a1", "a2"]))?;
    }
    spec::shell(
        &mut b.config,
        "printf 'process|%s|%s|||\\n' \"$(readlink /proc/self/ns/mnt)\" \"$(readlink /proc/self/ns/uts)\" >> /hooklog/log",
    )?;
    let id = ctx.id();
    hd.mark("create-begin")?;
    ctx.create(&b, &id, &[])?.ok("create")?;
    hd.mark("create-end")?;
    let created_pid = ctx.state(&id)?["pid"].as_i64().unwrap_or(0);
    hd.mark("start-begin")?;
    ctx.start(&id)?.ok("start")?;
    hd.mark("start-end")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    hd.mark("delete-begin")?;
    ctx.delete(&id)?.ok("delete")?;
    hd.mark("delete-end")?;
    Ok(HookRun { entries: hd.entries()?, id, bundle: b.dir.clone(), created_pid })
}

fn order(ctx: &mut Ctx) -> Result<Outcome> {
    let run = full_lifecycle(ctx)?;
    let names = run.names();
    let before = |a: &str, b: &str| -> Result<()> {
        check!(run.index(a)? < run.index(b)?, "{a} should come before {b}; log order: {names:?}");
        Ok(())
    };
    before("harness:create-begin", "prestart")?;
    before("prestart", "createRuntime")?;
    before("createRuntime", "createContainer")?;
    before("createContainer", "harness:create-end")?;
    before("harness:start-begin", "startContainer")?;
    before("startContainer", "process")?;
    before("startContainer", "poststart")?;
    before("poststart", "harness:start-end")?;
    before("harness:delete-begin", "poststop")?;
    before("poststop", "harness:delete-end")?;
    Ok(Outcome::Pass)
}

fn state_on_stdin(ctx: &mut Ctx) -> Result<Outcome> {
    let run = full_lifecycle(ctx)?;
    let bundle = run.bundle.to_string_lossy().into_owned();
    for (kind, statuses) in [
        // The spec names no status for the create-time hooks: creating or created both fit.
        ("prestart", &["creating", "created"][..]),
        ("createRuntime", &["creating", "created"]),
        ("createContainer", &["creating", "created"]),
        ("startContainer", &["created", "running"]),
        ("poststart", &["created", "running"]),
        ("poststop", &["stopped"]),
    ] {
        let entry = run.entry(kind)?;
        let state = entry.state.as_ref().with_context(|| format!("{kind} read no JSON state on stdin"))?;
        check!(state["ociVersion"].is_string(), "{kind} state lacks ociVersion: {state}");
        check_eq!(state["id"].as_str(), Some(run.id.as_str()), "{kind} state id");
        check_eq!(state["bundle"].as_str(), Some(bundle.as_str()), "{kind} state bundle");
        let status = state["status"].as_str().unwrap_or("");
        check!(statuses.contains(&status), "{kind} state status {status:?}, expected one of {statuses:?}");
        let pid = state["pid"].as_i64().unwrap_or(0);
        match kind {
            "poststop" => {}
            // runtime.md: for hooks in the container namespace the pid is as the container sees it.
            "createContainer" | "startContainer" => {
                check_eq!(pid, 1, "{kind} state pid (container's view)")
            }
            _ => check_eq!(pid, run.created_pid, "{kind} state pid (runtime's view)"),
        }
    }
    Ok(Outcome::Pass)
}

fn namespaces(ctx: &mut Ctx) -> Result<Outcome> {
    let host_mnt = ctx.suite.host_ns.get("mnt").cloned().unwrap_or_default();
    let host_uts = ctx.suite.host_ns.get("uts").cloned().unwrap_or_default();
    let run = full_lifecycle(ctx)?;
    let process = run.entry("process")?;
    check!(process.mnt_ns != host_mnt, "the process runs in the host mount namespace");
    check!(process.uts_ns != host_uts, "the process runs in the host uts namespace");
    for kind in ["createContainer", "startContainer"] {
        let e = run.entry(kind)?;
        check_eq!(e.mnt_ns, process.mnt_ns, "{kind} mount namespace (the container's)");
        check_eq!(e.uts_ns, process.uts_ns, "{kind} uts namespace (the container's)");
    }
    for kind in ["prestart", "createRuntime", "poststart", "poststop"] {
        check_eq!(run.entry(kind)?.mnt_ns, host_mnt, "{kind} mount namespace (the runtime's)");
        check_eq!(run.entry(kind)?.uts_ns, host_uts, "{kind} uts namespace (the runtime's)");
    }
    Ok(Outcome::Pass)
}

fn args_and_env(ctx: &mut Ctx) -> Result<Outcome> {
    let run = full_lifecycle(ctx)?;
    for kind in HOST_HOOKS.iter().chain(["startContainer"].iter()) {
        let e = run.entry(kind)?;
        check_eq!(e.args.as_str(), "a1 a2", "{kind} arguments after the script's own");
        check_eq!(e.env, format!("{kind}-env"), "{kind} HOOK_VAR from the hook's env");
    }
    Ok(Outcome::Pass)
}

/// Create a `sleep` container with extra hooks; returns the id and the create output.
fn create_with_hooks(ctx: &mut Ctx, hooks: &[(&str, Value)]) -> Result<(String, crate::runtime::Output)> {
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    ctx.place_in_cgroup(&mut b, &id)?;
    for (kind, hook) in hooks {
        spec::add_hook(&mut b.config, kind, hook.clone())?;
    }
    spec::args(&mut b.config, &["sleep", "100"])?;
    let out = ctx.create(&b, &id, &[])?;
    Ok((id, out))
}

/// runtime.md "Errors": a failed create leaves the environment as it was.
fn nothing_left(ctx: &Ctx, id: &str) -> Result<()> {
    check!(ctx.call(&["state", id])?.code != Some(0), "state of {id} succeeds after the failed create");
    let leftovers = ctx.leftovers();
    check!(leftovers.is_empty(), "the failed create left behind: {}", leftovers.join("; "));
    Ok(())
}

fn timeout_fails_create(ctx: &mut Ctx) -> Result<Outcome> {
    // One process without children: a hook's orphans may hold its pipes open.
    let hook = spec::hook("/bin/busybox", &["busybox", "sleep", "10"], &[], Some(1));
    let (id, out) = create_with_hooks(ctx, &[("createRuntime", hook)])?;
    check!(!out.success(), "create succeeded although its hook outlived its 1 s timeout: {}", out.describe());
    check!(out.elapsed < Duration::from_secs(6), "create took {:?} with a 1 s hook timeout", out.elapsed);
    nothing_left(ctx, &id)?;
    Ok(Outcome::Pass)
}

fn failing_create_runtime(ctx: &mut Ctx) -> Result<Outcome> {
    let hook = spec::hook("/bin/sh", &["sh", "-c", "echo hook-says-no >&2; exit 3"], &[], None);
    let (id, out) = create_with_hooks(ctx, &[("createRuntime", hook)])?;
    check!(!out.success() && !out.timed_out, "create succeeded although a createRuntime hook failed");
    nothing_left(ctx, &id)?;
    Ok(Outcome::Pass)
}

/// runtime.md step 13: a failing poststop hook is only a warning; the remaining hooks run and
/// delete succeeds.
fn failing_poststop(ctx: &mut Ctx) -> Result<Outcome> {
    let marker = ctx.path("second-poststop-ran");
    let failing = spec::hook("/bin/sh", &["sh", "-c", "exit 1"], &[], None);
    let second = spec::hook("/bin/sh", &["sh", "-c", &format!("touch {}", marker.display())], &[], None);
    let (id, out) = create_with_hooks(ctx, &[("poststop", failing), ("poststop", second)])?;
    out.ok("create")?;
    ctx.kill(&id, "KILL")?.ok("kill")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    ctx.delete(&id)?.ok("delete with a failing poststop hook")?;
    check!(marker.exists(), "the poststop hook after the failing one did not run");
    check!(ctx.call(&["state", &id])?.code != Some(0), "the container still exists after delete");
    Ok(Outcome::Pass)
}
