//! Today's tools' own default specs, run as they come: `runc spec` and `runc spec --rootless`
//! of runc 1.3.6, `ctr oci spec` of containerd 2.1.9, and the config.json podman 5.8.6 wrote
//! for `podman create --network none IMAGE true` (src/fixtures/, unchanged files; how each
//! was made is in src/fixtures/README.md). The only edits: the checker as the process (the
//! defaults run `sh`, `true` or nothing), a cgroupsPath of the suite's own where the spec
//! names one (ctr's `/default` is one cgroup for every container made from it; podman's
//! names its own parent), and for podman the host paths of one container it made: its
//! rootfs, and the sources of its per-container binds (hosts, hostname, .containerenv, shm),
//! made afresh in the case's dir. A terminal stays a terminal: the checker then reports
//! through the pty sent to `--console-socket`. The facts must show what the spec asks:
//! namespaces, ids, cwd, hostname, capabilities, rlimits, NoNewPrivs, mounts and read-only
//! paths (and podman's seccomp profile must let the checker run).

use super::{Case, Outcome};
use crate::bundle::{make_dir, Bundle};
use crate::console::ConsoleSocket;
use crate::ctx::Ctx;
use crate::facts::{self, cap_hex, Facts};
use crate::spec::{self, CapSets};
use crate::{check, check_eq};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::time::Duration;

const RUNC_13: &str = include_str!("../fixtures/runc-1.3-spec.json");
const RUNC_13_ROOTLESS: &str = include_str!("../fixtures/runc-1.3-spec-rootless.json");
const CTR_21: &str = include_str!("../fixtures/containerd-2.1-ctr-oci-spec.json");
const PODMAN_5: &str = include_str!("../fixtures/podman-5-spec.json");

const WAIT: Duration = Duration::from_secs(10);

pub fn cases() -> Vec<Case> {
    let m = "default_specs";
    vec![
        Case::new(m, "runc_1_3_spec", |c| run_default(c, RUNC_13)),
        Case::new(m, "runc_1_3_spec_rootless", |c| run_default(c, RUNC_13_ROOTLESS)),
        Case::new(m, "containerd_2_1_ctr_oci_spec", |c| run_default(c, CTR_21)),
        Case::new(m, "podman_5_spec", |c| run_default(c, PODMAN_5)),
    ]
}

/// The fixture with the checker as the process, and a cgroupsPath of the suite's own where
/// the fixture names a fixed one.
fn prepare(ctx: &Ctx, fixture: &str, id: &str) -> Result<Value> {
    let mut config: Value = serde_json::from_str(fixture).context("parsing the fixture")?;
    spec::set(&mut config, "/process/args", json!(["/checker"]))?;
    if config.pointer("/linux/cgroupsPath").is_some() {
        spec::set(&mut config, "/linux/cgroupsPath", json!(ctx.placement(id).spec_value))?;
    }
    if config["root"]["path"].as_str().is_some_and(|p| p.starts_with('/')) {
        spec::set(&mut config, "/root/path", json!("rootfs"))?;
        relocate_binds(ctx, &mut config)?;
    }
    Ok(config)
}

/// The binds of a spec that an engine wrote for one container of its own point into that
/// engine's storage: each source is made afresh in the case's dir, a directory for `shm`
/// and a file for the others.
fn relocate_binds(ctx: &Ctx, config: &mut Value) -> Result<()> {
    let dir = ctx.path("engine-files");
    make_dir(&dir)?;
    let hostname = config["hostname"].as_str().unwrap_or("container").to_string();
    for m in config["mounts"].as_array_mut().into_iter().flatten() {
        if m["type"] != "bind" {
            continue;
        }
        let Some(name) = m["source"].as_str().and_then(|s| s.rsplit('/').next()).map(str::to_string) else {
            continue;
        };
        let source = dir.join(&name);
        match name.as_str() {
            "shm" => make_dir(&source)?,
            "hostname" => std::fs::write(&source, format!("{hostname}\n"))?,
            "hosts" => std::fs::write(&source, format!("127.0.0.1 localhost\n127.0.1.1 {hostname}\n"))?,
            _ => std::fs::write(&source, "")?,
        }
        m["source"] = json!(source.to_string_lossy());
    }
    Ok(())
}

fn run_default(ctx: &mut Ctx, fixture: &str) -> Result<Outcome> {
    let id = ctx.id();
    let config = prepare(ctx, fixture, &id)?;
    let dir = ctx.path("bundle");
    make_dir(&dir)?;
    let b = Bundle::create(dir, &ctx.suite.assets, config)?;
    let terminal = b.config.pointer("/process/terminal") == Some(&json!(true));
    let f = if terminal {
        let sock = ctx.path("console.sock");
        let console = ConsoleSocket::listen(&sock)?;
        ctx.create(&b, &id, &["--console-socket", &sock.to_string_lossy()])?.ok("create --console-socket")?;
        let reader = console.drain(WAIT)?;
        ctx.start(&id)?.ok("start")?;
        ctx.wait_status(&id, "stopped", WAIT)?;
        let output = reader.join().map_err(|_| anyhow::anyhow!("the pty reader panicked"))?;
        ctx.delete(&id)?.ok("delete")?;
        facts::parse(&String::from_utf8_lossy(&output))?
    } else {
        let out = ctx.run_as(&b, &id, &[])?.ok("running the checker")?;
        facts::parse(&out.stdout)?
    };
    honoured(ctx, &b.config, &f, terminal)?;
    Ok(Outcome::Pass)
}

/// The /proc/self/ns link of a namespace type.
fn ns_link(kind: &str) -> &str {
    match kind {
        "network" => "net",
        "mount" => "mnt",
        other => other,
    }
}

/// The strings of an array at a JSON pointer (none when absent).
fn strings<'a>(config: &'a Value, pointer: &str) -> Vec<&'a str> {
    config.pointer(pointer).and_then(Value::as_array).map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// What the checker saw matches what the config asks for.
fn honoured(ctx: &Ctx, config: &Value, f: &Facts, terminal: bool) -> Result<()> {
    let listed: Vec<&str> =
        config.pointer("/linux/namespaces").and_then(Value::as_array).into_iter().flatten().filter_map(|n| n["type"].as_str()).collect();
    for kind in ["pid", "network", "ipc", "uts", "mount", "cgroup", "user"] {
        let link = ns_link(kind);
        let (Some(host), Some(inside)) = (ctx.suite.host_ns.get(link), f.ns(link)) else {
            continue;
        };
        if listed.contains(&kind) {
            check!(inside != host, "{kind} namespace is the host's although the spec lists it");
        } else {
            check_eq!(inside, host.as_str(), "{kind} namespace (not in the spec, so inherited)");
        }
    }
    if listed.contains(&"pid") {
        check_eq!(f.pid, 1, "pid of the process in its own pid namespace");
    }
    let user = &config["process"]["user"];
    let uid = user["uid"].as_u64().unwrap_or(0) as u32;
    check_eq!((f.uid, f.gid), (uid, user["gid"].as_u64().unwrap_or(0) as u32), "uid and gid");
    let cwd = config["process"]["cwd"].as_str().unwrap_or("/");
    check_eq!(f.cwd.as_deref(), Some(cwd), "cwd");
    if let Some(name) = config["hostname"].as_str() {
        check_eq!(f.hostname.as_deref(), Some(name), "hostname");
    }
    let nnp = config["process"]["noNewPrivileges"].as_bool().unwrap_or(false);
    check_eq!(f.no_new_privs.as_deref(), Some(if nnp { "1" } else { "0" }), "NoNewPrivs");
    let set = |name: &str| spec::cap_mask(&strings(config, &format!("/process/capabilities/{name}")));
    let configured = CapSets {
        bounding: set("bounding")?,
        effective: set("effective")?,
        permitted: set("permitted")?,
        inheritable: set("inheritable")?,
        ambient: set("ambient")?,
    };
    let got = CapSets {
        bounding: cap_hex(f.caps.bounding.as_deref())?,
        effective: cap_hex(f.caps.effective.as_deref())?,
        permitted: cap_hex(f.caps.permitted.as_deref())?,
        inheritable: cap_hex(f.caps.inheritable.as_deref())?,
        ambient: cap_hex(f.caps.ambient.as_deref())?,
    };
    check_eq!(got, spec::caps_after_exec(configured, uid == 0, nnp), "capability sets after exec");
    for rl in config["process"]["rlimits"].as_array().into_iter().flatten() {
        let name = rl["type"].as_str().context("an rlimit without a type")?;
        let got = f.rlimit(name)?;
        check_eq!((got.soft, got.hard), (rl["soft"].as_u64().unwrap_or(0), rl["hard"].as_u64().unwrap_or(0)), "{name}");
    }
    for m in config["mounts"].as_array().into_iter().flatten() {
        let dest = m["destination"].as_str().context("a mount without a destination")?;
        let mount = f.require_mount(dest)?;
        let kind = m["type"].as_str().unwrap_or("none");
        match kind {
            "none" | "bind" => {}
            // runc's convention, which every runtime follows: on cgroup v1 (and hybrid) a tmpfs
            // holding one mount per hierarchy, on v2 the unified hierarchy itself.
            "cgroup" => check!(
                matches!(mount.fstype.as_str(), "tmpfs" | "cgroup" | "cgroup2"),
                "fstype of {dest}: {} is not a cgroup filesystem or the tmpfs holding them",
                mount.fstype
            ),
            _ => check_eq!(mount.fstype.as_str(), kind, "fstype of {dest}"),
        }
        if !strings(m, "/options").contains(&"ro") {
            continue;
        }
        if kind == "cgroup" && mount.fstype == "tmpfs" {
            // The hierarchies are what `ro` protects; runc leaves the tmpfs around them writable.
            // Only those mounted on the visible tmpfs, after it: an rbind of the host's /sys
            // (the rootless spec) leaves the host's hierarchies under it, hidden.
            let prefix = format!("{}/", dest.trim_end_matches('/'));
            let all = f.mounts();
            let visible = all.iter().rposition(|c| c.mount_point == dest).unwrap_or(0);
            let writable: Vec<&str> = all[visible..]
                .iter()
                .filter(|c| c.mount_point.starts_with(&prefix) && c.fstype.starts_with("cgroup"))
                .filter(|c| !c.has_option("ro"))
                .map(|c| c.mount_point.as_str())
                .collect();
            check!(writable.is_empty(), "cgroup hierarchies under {dest} are writable: {writable:?}");
        } else {
            check!(mount.has_option("ro"), "{dest} is not read-only: {}", mount.options);
        }
    }
    if config["root"]["readonly"].as_bool() == Some(true) {
        check!(f.require_mount("/")?.has_option("ro"), "the root is not read-only");
    }
    for path in strings(config, "/linux/readonlyPaths") {
        if let Some(mount) = f.mount(path) {
            check!(mount.has_option("ro"), "readonly path {path} is writable: {}", mount.options);
        }
    }
    if terminal {
        check!(f.tty.stdin && f.tty.stdout && f.tty.stderr, "stdio are not the terminal: {:?}", f.tty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_what_the_tools_print() {
        for (text, version) in [(RUNC_13, "1.2.1"), (RUNC_13_ROOTLESS, "1.2.1"), (CTR_21, "1.2.1"), (PODMAN_5, "1.2.1")] {
            let config: Value = serde_json::from_str(text).expect("fixture parses");
            assert_eq!(config["ociVersion"], json!(version));
        }
        let rootless: Value = serde_json::from_str(RUNC_13_ROOTLESS).expect("parses");
        assert_eq!(rootless["linux"]["uidMappings"][0]["size"], json!(1));
        let ctr: Value = serde_json::from_str(CTR_21).expect("parses");
        assert_eq!(ctr["linux"]["cgroupsPath"], json!("/default"));
        assert!(ctr["process"].get("args").is_none());
    }
}
