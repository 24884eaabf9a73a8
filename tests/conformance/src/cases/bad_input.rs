//! Bad input: create must fail with a non-zero exit and a message that names the problem, and
//! leave nothing behind (runtime.md "Errors"): no state dir, no cgroup, no host mount, no
//! process naming the id.

use super::{Case, Outcome};
use crate::bundle::Bundle;
use crate::cgroup_driver::Placement;
use crate::ctx::Ctx;
use crate::runtime::{Call, Output};
use crate::{check, host, spec};
use anyhow::{Context, Result};
use serde_json::json;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    let m = "bad_input";
    vec![
        Case::new(m, "missing_bundle_dir", missing_bundle),
        Case::new(m, "missing_config_json", missing_config),
        Case::new(m, "invalid_json", invalid_json),
        Case::new(m, "wrong_field_type", wrong_type),
        Case::new(m, "missing_rootfs", missing_rootfs),
        Case::new(m, "relative_mount_destination", relative_destination),
        Case::new(m, "missing_bind_source", missing_bind_source)
            .runc13_xfail("runc 1.3 names only the missing host source, not the mount's destination in the container"),
        Case::new(m, "args0_not_found", args0_not_found),
        Case::new(m, "duplicate_id", duplicate_id),
        Case::new(m, "invalid_id", invalid_id),
        Case::new(m, "unknown_rlimit_type", unknown_rlimit),
        Case::new(m, "duplicate_rlimits", duplicate_rlimits)
            .runc_xfail("runc 1.1.5 accepts duplicated rlimit types; config.md says they MUST be an error")
            .runc13_xfail("runc 1.3 still accepts duplicated rlimit types; config.md says they MUST be an error"),
        Case::new(m, "duplicate_namespace_type", duplicate_namespace),
        Case::new(m, "namespace_path_of_wrong_type", namespace_wrong_type),
        Case::new(m, "intel_rdt_without_resctrl", intel_rdt),
        Case::new(m, "idmapped_mount_mapped_or_refused", idmapped_mount)
            .runc_xfail("runc 1.1.5 predates idmapped mounts (runtime-spec 1.2 mounts[].uidMappings) and mounts them without the mapping"),
    ]
    // Each one passes by the runtime refusing the config or the call.
    .into_iter()
    .map(Case::refusal)
    .collect()
}

/// `create --bundle DIR ID` with `--log`, expected to fail.
fn create_failing(ctx: &Ctx, dir: &Path, id: &str) -> Result<Output> {
    let dir = dir.to_string_lossy().into_owned();
    let out = ctx.call_with(&["create", "--bundle", &dir, id], Call { log: true, ..Call::default() })?;
    check!(!out.success(), "create succeeded: {}", out.describe());
    check!(!out.timed_out, "create hung: {}", out.describe());
    Ok(out)
}

/// The error names one of `words` (case-insensitive), on stderr or in the --log file.
pub(super) fn mentions(out: &Output, words: &[&str]) -> Result<()> {
    let text = out.messages().to_lowercase();
    check!(!text.trim().is_empty(), "the failure printed no error: {}", out.describe());
    check!(words.iter().any(|w| text.contains(&w.to_lowercase())), "the error mentions none of {words:?}: {}", out.describe());
    Ok(())
}

/// Nothing of the failed container remains, checked before the case cleanup would hide it.
fn nothing_left(ctx: &Ctx, id: &str, cgroup: Option<&str>) -> Result<()> {
    check!(!ctx.state_dir_exists(id), "the runtime root still holds a state dir for {id}");
    check!(ctx.call(&["state", id])?.code != Some(0), "state of {id} succeeds after the failed create");
    if let Some(path) = cgroup {
        let dirs = host::existing_cgroup_dirs(&[path.to_string()])?;
        check!(dirs.is_empty(), "cgroup dirs remain: {dirs:?}");
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut procs = host::processes_naming(id);
    while !procs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        procs = host::processes_naming(id);
    }
    check!(procs.is_empty(), "processes remain: {procs:?}");
    let mounts = host::mounts_under(&ctx.dir)?;
    check!(mounts.is_empty(), "host mounts remain: {mounts:?}");
    Ok(())
}

/// A valid bundle whose cgroup lives under the suite parent, for a config edit to break.
pub(super) fn bundle_with_cgroup(ctx: &mut Ctx) -> Result<(Bundle, String, Placement)> {
    let b = ctx.bundle()?;
    let id = ctx.id();
    let cg = ctx.placement(&id);
    Ok((b, id, cg))
}

/// Writes the (broken) config, expects create to fail naming one of `words`, and checks that
/// nothing remains.
pub(super) fn rejected(ctx: &mut Ctx, b: &mut Bundle, id: &str, cg: &Placement, words: &[&str]) -> Result<Outcome> {
    if b.config.is_object() {
        spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    }
    b.write()?;
    let out = create_failing(ctx, &b.dir, id)?;
    mentions(&out, words)?;
    nothing_left(ctx, id, Some(&cg.cgroup))?;
    Ok(Outcome::Pass)
}

/// A bind whose source does not exist: the error names the mount's destination in the
/// container (not only a host path) and the errno.
fn missing_bind_source(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    let mounts = b.config["mounts"].as_array_mut().context("the spec has no mounts")?;
    mounts.push(json!({"destination": "/youki-missing-src", "type": "bind", "source": "/nonexistent-youki-src", "options": ["rbind"]}));
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    b.write()?;
    let out = create_failing(ctx, &b.dir, &id)?;
    let text = out.messages().to_lowercase();
    check!(text.contains("\"/youki-missing-src\""), "the error does not name the destination \"/youki-missing-src\": {}", out.describe());
    check!(text.contains("no such file or directory"), "the error does not say \"no such file or directory\": {}", out.describe());
    nothing_left(ctx, &id, Some(&cg.cgroup))?;
    Ok(Outcome::Pass)
}

fn missing_bundle(ctx: &mut Ctx) -> Result<Outcome> {
    let id = ctx.id();
    let out = create_failing(ctx, &ctx.path("no-such-bundle"), &id)?;
    mentions(&out, &["no-such-bundle", "no such file"])?;
    nothing_left(ctx, &id, None)?;
    Ok(Outcome::Pass)
}

fn missing_config(ctx: &mut Ctx) -> Result<Outcome> {
    let b = ctx.bundle()?;
    let id = ctx.id();
    let out = create_failing(ctx, &b.dir, &id)?;
    mentions(&out, &["config.json"])?;
    nothing_left(ctx, &id, None)?;
    Ok(Outcome::Pass)
}

fn invalid_json(ctx: &mut Ctx) -> Result<Outcome> {
    let b = ctx.bundle()?;
    fs::write(b.config_path(), "{ \"ociVersion\": \"1.0.2\", not json").context("writing config.json")?;
    let id = ctx.id();
    let out = create_failing(ctx, &b.dir, &id)?;
    mentions(&out, &["json", "config", "invalid character", "parse"])?;
    nothing_left(ctx, &id, None)?;
    Ok(Outcome::Pass)
}

fn wrong_type(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/process", json!(5))?;
    rejected(ctx, &mut b, &id, &cg, &["process", "json", "config", "unmarshal", "type"])
}

fn missing_rootfs(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/root/path", json!("no-such-rootfs"))?;
    rejected(ctx, &mut b, &id, &cg, &["no-such-rootfs", "rootfs", "no such file"])
}

/// config.md (1.3): on Linux a relative destination is deprecated; a runtime that accepts
/// it MUST take it relative to "/". Either outcome conforms: the mount shows up at /data, or
/// create fails naming the destination and leaves nothing behind.
fn relative_destination(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    spec::add_mount(&mut b.config, spec::mount("data", "tmpfs", "tmpfs", &["size=1m"]))?;
    spec::checker_args(&mut b.config, &[])?;
    let out = ctx.run_as(&b, &id, &[])?;
    check!(!out.timed_out, "run hung: {}", out.describe());
    if out.success() {
        let f = crate::facts::parse(&out.stdout)?;
        let m = f.require_mount("/data")?;
        check!(m.fstype == "tmpfs", "/data is a {} mount, not the configured tmpfs", m.fstype);
    } else {
        mentions(&out, &["data"])?;
        nothing_left(ctx, &id, Some(&cg.cgroup))?;
    }
    Ok(Outcome::Pass)
}

/// The process cannot start: `run` fails, names the program, and cleans up its container.
fn args0_not_found(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    spec::args(&mut b.config, &["/no/such/program-xyz"])?;
    let out = ctx.run_as(&b, &id, &[])?;
    check!(!out.success() && !out.timed_out, "run succeeded: {}", out.describe());
    mentions(&out, &["program-xyz"])?;
    nothing_left(ctx, &id, Some(&cg.cgroup))?;
    Ok(Outcome::Pass)
}

/// A second create with a taken id fails without creating anything of its own.
fn duplicate_id(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut first, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut first.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    spec::args(&mut first.config, &["sleep", "100"])?;
    ctx.create(&first, &id, &[])?.ok("the first create")?;
    let pid = ctx.state(&id)?["pid"].clone();
    let mut second = ctx.bundle()?;
    let other = ctx.placement(&format!("{id}-second"));
    spec::set(&mut second.config, "/linux/cgroupsPath", json!(other.spec_value))?;
    second.write()?;
    let out = create_failing(ctx, &second.dir, &id)?;
    mentions(&out, &[&id, "exist", "already"])?;
    let dirs = host::existing_cgroup_dirs(&[other.cgroup])?;
    check!(dirs.is_empty(), "the refused create made cgroup dirs: {dirs:?}");
    let st = ctx.state(&id)?;
    check!(st["pid"] == pid && st["status"] == "created", "the first container changed: {st}");
    Ok(Outcome::Pass)
}

/// An id that is a path must be refused, and nothing may appear outside the runtime root.
fn invalid_id(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, _, cg) = bundle_with_cgroup(ctx)?;
    let escape = format!("escape-{}", ctx.id());
    let id = format!("../{escape}");
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    b.write()?;
    let out = create_failing(ctx, &b.dir, &id)?;
    mentions(&out, &["id", "invalid"])?;
    let outside = ctx.rt().root.join(&id);
    check!(!outside.exists(), "create made {} outside the runtime root", outside.display());
    nothing_left(ctx, &escape, Some(&cg.cgroup))?;
    Ok(Outcome::Pass)
}

fn unknown_rlimit(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::push(&mut b.config, "/process/rlimits", json!({"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}))?;
    rejected(ctx, &mut b, &id, &cg, &["RLIMIT_NOPE"])
}

fn duplicate_rlimits(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::push(&mut b.config, "/process/rlimits", json!({"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}))?;
    rejected(ctx, &mut b, &id, &cg, &["RLIMIT_NOFILE", "duplicate"])
}

fn duplicate_namespace(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::push(&mut b.config, "/linux/namespaces", json!({"type": "uts"}))?;
    rejected(ctx, &mut b, &id, &cg, &["uts", "duplicate"])
}

/// config-linux.md: a namespace path of another type MUST generate an error.
fn namespace_wrong_type(ctx: &mut Ctx) -> Result<Outcome> {
    let pid = ctx.spawn_helper("unshare", &["--uts", "/bin/busybox", "sleep", "60"])?;
    let started = Instant::now();
    while host::namespaces(&pid.to_string()).get("uts") == ctx.suite.host_ns.get("uts") {
        check!(started.elapsed() < Duration::from_secs(5), "the unshare helper did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::namespace(&mut b.config, "network", Some(&format!("/proc/{pid}/ns/uts")))?;
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    b.write()?;
    let out = create_failing(ctx, &b.dir, &id)?;
    mentions(&out, &["ns", "namespace", "setns", "invalid argument"])?;
    nothing_left(ctx, &id, Some(&cg.cgroup))?;
    Ok(Outcome::Pass)
}

/// Without resctrl, linux.intelRdt cannot be honoured (config-linux.md: the runtime MUST
/// generate an error): runc 1.1.5 says "Intel RDT/CAT is not enabled". The object uses the
/// runtime-spec 1.3 fields, so the error is about resctrl and not about the object.
fn intel_rdt(ctx: &mut Ctx) -> Result<Outcome> {
    if Path::new("/sys/fs/resctrl/schemata").exists() {
        return Ok(Outcome::Skip("resctrl is mounted on this host".into()));
    }
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(
        &mut b.config,
        "/linux/intelRdt",
        json!({"closID": "conformance", "l3CacheSchema": "L3:0=ff", "schemata": ["MB:0=50"], "enableMonitoring": true}),
    )?;
    rejected(ctx, &mut b, &id, &cg, &["rdt"])
}

/// config.md: a mount with uidMappings/gidMappings is idmapped. A runtime that does it shows
/// the source's files through the mapping (runc 1.3 does, without a user namespace); one that
/// cannot must refuse, naming it, and leave nothing behind; mounting it un-mapped is wrong.
fn idmapped_mount(ctx: &mut Ctx) -> Result<Outcome> {
    let src = ctx.path("idmap-src");
    crate::bundle::make_dir(&src)?;
    std::os::unix::fs::chown(&src, Some(0), Some(0)).context("chown the idmap source")?;
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    let map = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
    let mut m = spec::mount("/mnt", "bind", &src.to_string_lossy(), &["rbind"]);
    m["uidMappings"] = map.clone();
    m["gidMappings"] = map;
    spec::add_mount(&mut b.config, m)?;
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(cg.spec_value))?;
    spec::checker_args(&mut b.config, &["--stat", "/mnt"])?;
    b.write()?;
    let dir = b.dir.to_string_lossy().into_owned();
    let out = ctx.call_with(&["run", "--bundle", &dir, &id], Call { log: true, ..Call::default() })?;
    check!(!out.timed_out, "run hung: {}", out.describe());
    if !out.success() {
        mentions(&out, &["idmap"])?;
        nothing_left(ctx, &id, Some(&cg.cgroup))?;
        return Ok(Outcome::Pass);
    }
    let f = crate::facts::parse(&out.stdout)?;
    let st = f.stat("/mnt")?;
    // The mapping is read as a user namespace's: the source's own ids are the containerIDs,
    // and the mount shows them as the hostIDs.
    check!(
        (st.uid, st.gid) == (Some(1000), Some(1000)),
        "/mnt (0:0 in the source, containerID 0 mapped to hostID 1000) shows {:?}:{:?}, not 1000:1000: the mount is not idmapped",
        st.uid,
        st.gid
    );
    Ok(Outcome::Pass)
}
