//! Cgroups, read from the host side: the container lands at its cgroupsPath (absolute,
//! relative or absent) in every v1 hierarchy (or in the unified one on a v2-only host),
//! resources reach the controller files, and delete removes the directories.

use super::{Case, Outcome};
use crate::cgroup_files::{self, Requested};
use crate::ctx::Ctx;
use crate::host::{self, Hierarchy, Layout};
use crate::{check, check_eq, spec};
use anyhow::{Context, Result};
use serde_json::json;
use std::fs;
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    let m = "cgroups";
    vec![
        Case::new(m, "absolute_path_in_every_hierarchy", absolute_path),
        Case::new(m, "resources_applied_and_removed", resources_applied),
        Case::new(m, "relative_path", relative_path),
        Case::new(m, "default_path", default_path),
    ]
}

/// Where a container must be placed: every v1 hierarchy with a real controller (not a named
/// one like name=systemd) or, on a host without v1 controllers, the unified hierarchy.
fn placement_hierarchies() -> Result<Vec<Hierarchy>> {
    let layout = host::layout()?;
    Ok(host::hierarchies()?
        .into_iter()
        .filter(|h| match layout {
            Layout::V1 => h.controllers.iter().any(|c| !c.starts_with("name=")),
            Layout::Unified => h.is_v2(),
        })
        .collect())
}

/// The name a hierarchy goes by in /proc/<pid>/cgroup lookups (`""` for v2).
fn line_key(h: &Hierarchy) -> &str {
    h.controllers.first().map_or("", String::as_str)
}

fn absolute_path(ctx: &mut Ctx) -> Result<Outcome> {
    let hierarchies = placement_hierarchies()?;
    let mut b = ctx.bundle()?;
    let name = ctx.id();
    let path = ctx.place_in_cgroup(&mut b, &name)?;
    let f = ctx.checker(&mut b, &[])?;
    for h in &hierarchies {
        let got = f.cgroup_path(line_key(h));
        check_eq!(got, Some(path.as_str()), "cgroup of the process in the {:?} hierarchy", h.key());
    }
    Ok(Outcome::Pass)
}

/// A devices.list line: type, major, minor, access.
fn device_rules(list: &str) -> Vec<(String, String, String, String)> {
    list.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let kind = parts.next()?.to_string();
            let (major, minor) = parts.next()?.split_once(':')?;
            Some((kind, major.to_string(), minor.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

/// Whether this host can take a block IO weight and per-device throttles: on v1 a blkio
/// hierarchy with a weight file (CFQ, or BFQ loaded) and the throttle files; on v2 the io
/// controller, with iocost (io.cost.qos at the root) for a weight.
fn block_io_support(layout: Layout) -> (bool, bool) {
    let root = |file: &str| host::cgroup_file_exists(layout, "blkio", "/", file);
    match layout {
        Layout::V1 => {
            let bfq_loaded = host::hierarchy("blkio").is_ok_and(|h| {
                fs::read_dir(&h.mount_point).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with("blkio.bfq.")))
            });
            (root("blkio.weight") || bfq_loaded, root("blkio.throttle.read_bps_device"))
        }
        Layout::Unified => {
            let io = host::read_cgroup_file(layout, "", "/", "cgroup.controllers").is_ok_and(|c| c.split_whitespace().any(|c| c == "io"));
            (io && root("io.cost.qos"), io)
        }
    }
}

/// Memory, cpu, cpuset, pids and block IO limits reach the container's cgroup files (v1 or
/// v2, see `cgroup_files` for the conversions), device rules reach devices.list on v1, and
/// delete removes the cgroup.
fn resources_applied(ctx: &mut Ctx) -> Result<Outcome> {
    let layout = host::layout()?;
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    let cgroup = ctx.place_in_cgroup(&mut b, &id)?;
    let (weight, throttle) = block_io_support(layout);
    let disk = host::first_disk().filter(|_| throttle);
    let want = Requested::for_case(weight.then_some(500), disk);
    spec::set(&mut b.config, "/linux/resources/memory", want.to_json()["memory"].clone())?;
    spec::set(&mut b.config, "/linux/resources/cpu", want.to_json()["cpu"].clone())?;
    spec::set(&mut b.config, "/linux/resources/pids", want.to_json()["pids"].clone())?;
    if let Some(block_io) = want.to_json().get("blockIO") {
        spec::set(&mut b.config, "/linux/resources/blockIO", block_io.clone())?;
    }
    spec::args(&mut b.config, &["sleep", "100"])?;
    ctx.create(&b, &id, &[])?.ok("create")?;
    ctx.start(&id)?.ok("start")?;

    let exists = |file: &str| host::cgroup_file_exists(layout, "blkio", &cgroup, file);
    let weight_file = match layout {
        Layout::V1 => ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| exists(f)),
        Layout::Unified => ["io.bfq.weight", "io.weight"].into_iter().find(|f| exists(f)),
    };
    let swap_file = match layout {
        Layout::V1 => host::cgroup_file_exists(layout, "memory", "/", "memory.memsw.limit_in_bytes"),
        Layout::Unified => host::cgroup_file_exists(layout, "", &cgroup, "memory.swap.max"),
    };
    for e in want.files(layout, weight_file, swap_file) {
        let got = host::read_cgroup_file(layout, e.controller, &cgroup, &e.file)?;
        check!(cgroup_files::matches(&got, &e.value), "{}: expected {:?}, got {got:?}", e.file, e.value);
    }
    if want.blkio_weight.is_some() {
        check!(weight_file.is_some(), "the container's cgroup has no block IO weight file");
    }
    if layout == Layout::V1 {
        v1_device_rules(&cgroup)?;
    }

    ctx.kill(&id, "KILL")?.ok("kill")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    ctx.delete(&id)?.ok("delete")?;
    let left = host::existing_cgroup_dirs(&[cgroup])?;
    check!(left.is_empty(), "cgroup dirs remain after delete: {left:?}");
    Ok(Outcome::Pass)
}

/// v1 devices.list holds the allowed defaults and no longer allows everything. (On v2 the
/// rules are a BPF program; `devices/cgroup_*` check them from inside the container.)
fn v1_device_rules(cgroup: &str) -> Result<()> {
    let list = host::read_cgroup_file(Layout::V1, "devices", cgroup, "devices.list")?;
    let rules = device_rules(&list);
    check!(!rules.iter().any(|r| r.0 == "a"), "devices.list still allows everything: {rules:?}");
    for (major, minor) in [("1", "3"), ("1", "5"), ("1", "7"), ("1", "8"), ("1", "9"), ("5", "0")] {
        let allowed = rules.iter().any(|r| r.0 == "c" && r.1 == major && r.2 == minor && r.3.contains('r') && r.3.contains('w'));
        check!(allowed, "devices.list does not allow default device c {major}:{minor} rw: {rules:?}");
    }
    Ok(())
}

/// A relative cgroupsPath lands somewhere the runtime chooses, always ending in that path.
/// With the systemd driver the relative form is a triple with no slice: the scope lands in
/// the default slice (system.slice for root).
fn relative_path(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    let (rel, suffix) = ctx.suite.cgroups.relative(&id);
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(rel))?;
    let f = ctx.checker(&mut b, &[])?;
    let mut seen = Vec::new();
    for h in placement_hierarchies()? {
        let path = f.cgroup_path(line_key(&h)).with_context(|| format!("no {} line", h.key()))?;
        check!(path.ends_with(&suffix), "{} cgroup {path:?} does not end in {suffix} (cgroupsPath {rel:?})", h.key());
        seen.push(path.to_string());
    }
    let left = host::existing_cgroup_dirs(&seen)?;
    check!(left.is_empty(), "cgroup dirs remain after the run: {left:?}");
    Ok(Outcome::Pass)
}

/// Without cgroupsPath the runtime still gives the container a cgroup of its own.
fn default_path(ctx: &mut Ctx) -> Result<Outcome> {
    let own = host::own_cgroups()?;
    let mut b = ctx.bundle()?;
    spec::remove(&mut b.config, "/linux/cgroupsPath");
    let f = ctx.checker(&mut b, &[])?;
    let mut seen = Vec::new();
    for h in placement_hierarchies()? {
        let path = f.cgroup_path(line_key(&h)).with_context(|| format!("no {} line", h.key()))?;
        check!(own.get(&h.key()).map(String::as_str) != Some(path), "the container shares the runtime's {} cgroup {path}", h.key());
        seen.push(path.to_string());
    }
    let left = host::existing_cgroup_dirs(&seen)?;
    check!(left.is_empty(), "cgroup dirs remain after the run: {left:?}");
    Ok(Outcome::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_rules() {
        let rules = device_rules("a *:* rwm\nc 1:3 rwm\nc 136:* rw\n");
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[1], ("c".into(), "1".into(), "3".into(), "rwm".into()));
        assert_eq!(rules[2].2, "*");
    }
}
