//! Cgroups, read from the host side: the container lands at its cgroupsPath (absolute,
//! relative or absent) in every v1 hierarchy (or in the unified one on a v2-only host),
//! resources reach the controller files, and delete removes the directories.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::host::{self, Hierarchy};
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
    let all = host::hierarchies()?;
    let v1: Vec<Hierarchy> = all
        .iter()
        .filter(|h| h.controllers.iter().any(|c| !c.starts_with("name=")))
        .cloned()
        .collect();
    if !v1.is_empty() {
        return Ok(v1);
    }
    let v2: Vec<Hierarchy> = all.into_iter().filter(Hierarchy::is_v2).collect();
    check!(
        !v2.is_empty(),
        "no cgroup hierarchy is mounted on this host"
    );
    Ok(v2)
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
        check_eq!(
            got,
            Some(path.as_str()),
            "cgroup of the process in the {:?} hierarchy",
            h.key()
        );
    }
    Ok(Outcome::Pass)
}

/// Reads one controller file of the container's cgroup from the host.
fn read_file(controller: &str, cgroup: &str, file: &str) -> Result<String> {
    let path = host::hierarchy(controller)?.dir(cgroup).join(file);
    Ok(fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_string())
}

/// A devices.list line: type, major, minor, access.
fn device_rules(list: &str) -> Vec<(String, String, String, String)> {
    list.lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let kind = parts.next()?.to_string();
            let (major, minor) = parts.next()?.split_once(':')?;
            Some((
                kind,
                major.to_string(),
                minor.to_string(),
                parts.next()?.to_string(),
            ))
        })
        .collect()
}

fn resources_applied(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let id = ctx.id();
    let cgroup = ctx.place_in_cgroup(&mut b, &id)?;
    let mem = 64 << 20;
    spec::set(
        &mut b.config,
        "/linux/resources/memory",
        json!({"limit": mem, "reservation": 32 << 20, "swap": 2 * mem}),
    )?;
    spec::set(
        &mut b.config,
        "/linux/resources/cpu",
        json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}),
    )?;
    spec::set(&mut b.config, "/linux/resources/pids", json!({"limit": 64}))?;
    let blkio_weight = ["blkio.weight", "blkio.bfq.weight"].into_iter().find(|f| {
        host::hierarchy("blkio")
            .map(|h| h.mount_point.join(f).exists())
            .unwrap_or(false)
    });
    if blkio_weight.is_some() {
        spec::set(
            &mut b.config,
            "/linux/resources/blockIO",
            json!({"weight": 500}),
        )?;
    }
    spec::args(&mut b.config, &["sleep", "100"])?;
    ctx.create(&b, &id, &[])?.ok("create")?;
    ctx.start(&id)?.ok("start")?;
    let v1 = host::hierarchy("memory").is_ok();

    if v1 {
        v1_resources(&cgroup, blkio_weight)?;
    } else {
        v2_resources(&cgroup)?;
    }

    ctx.kill(&id, "KILL")?.ok("kill")?;
    ctx.wait_status(&id, "stopped", Duration::from_secs(10))?;
    ctx.delete(&id)?.ok("delete")?;
    let left = host::existing_cgroup_dirs(&[cgroup])?;
    check!(left.is_empty(), "cgroup dirs remain after delete: {left:?}");
    Ok(Outcome::Pass)
}

/// The v1 files: resources map one to one, devices.list holds the allowed defaults.
fn v1_resources(cgroup: &str, blkio_weight: Option<&str>) -> Result<()> {
    let expect = [
        ("memory", "memory.limit_in_bytes", (64u64 << 20).to_string()),
        (
            "memory",
            "memory.soft_limit_in_bytes",
            (32u64 << 20).to_string(),
        ),
        ("cpu", "cpu.shares", "512".to_string()),
        ("cpu", "cpu.cfs_quota_us", "50000".to_string()),
        ("cpu", "cpu.cfs_period_us", "100000".to_string()),
        ("cpuset", "cpuset.cpus", "0".to_string()),
        ("cpuset", "cpuset.mems", "0".to_string()),
        ("pids", "pids.max", "64".to_string()),
    ];
    for (controller, file, want) in &expect {
        check_eq!(read_file(controller, cgroup, file)?, *want, "{file}");
    }
    let memsw = "memory.memsw.limit_in_bytes";
    if host::hierarchy("memory")?.mount_point.join(memsw).exists() {
        let want = (128u64 << 20).to_string();
        check_eq!(
            read_file("memory", cgroup, memsw)?,
            want,
            "{memsw} (from swap)"
        );
    }
    if let Some(file) = blkio_weight {
        check_eq!(read_file("blkio", cgroup, file)?, "500", "{file}");
    }
    let rules = device_rules(&read_file("devices", cgroup, "devices.list")?);
    check!(
        !rules.iter().any(|r| r.0 == "a"),
        "devices.list still allows everything: {rules:?}"
    );
    for (major, minor) in [
        ("1", "3"),
        ("1", "5"),
        ("1", "7"),
        ("1", "8"),
        ("1", "9"),
        ("5", "0"),
    ] {
        let allowed = rules.iter().any(|r| {
            r.0 == "c" && r.1 == major && r.2 == minor && r.3.contains('r') && r.3.contains('w')
        });
        check!(
            allowed,
            "devices.list does not allow default device c {major}:{minor} rw: {rules:?}"
        );
    }
    Ok(())
}

/// The unified files, with the conversions runc, crun and youki share: swap becomes
/// memory.swap.max = swap - limit, reservation memory.low, shares cpu.weight
/// (1 + (shares - 2) * 9999 / 262142), quota and period cpu.max. Device rules live in an
/// eBPF program there, so they are not read back.
fn v2_resources(cgroup: &str) -> Result<()> {
    let weight = 1 + (512 - 2) * 9999 / 262_142;
    let expect = [
        ("memory.max", (64u64 << 20).to_string()),
        ("memory.low", (32u64 << 20).to_string()),
        ("cpu.weight", weight.to_string()),
        ("cpu.max", "50000 100000".to_string()),
        ("cpuset.cpus", "0".to_string()),
        ("cpuset.mems", "0".to_string()),
        ("pids.max", "64".to_string()),
    ];
    for (file, want) in &expect {
        check_eq!(read_file("", cgroup, file)?, *want, "{file}");
    }
    if host::hierarchy("")?
        .dir(cgroup)
        .join("memory.swap.max")
        .exists()
    {
        check_eq!(
            read_file("", cgroup, "memory.swap.max")?,
            (64u64 << 20).to_string(),
            "memory.swap.max"
        );
    }
    Ok(())
}

/// A relative cgroupsPath lands somewhere the runtime chooses, always ending in that path.
fn relative_path(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let rel = ctx.id();
    spec::set(&mut b.config, "/linux/cgroupsPath", json!(rel))?;
    let f = ctx.checker(&mut b, &[])?;
    let mut seen = Vec::new();
    for h in placement_hierarchies()? {
        let path = f
            .cgroup_path(&h.controllers[0])
            .with_context(|| format!("no {} line", h.key()))?;
        check!(
            path.ends_with(&format!("/{rel}")),
            "{} cgroup {path:?} does not end in the relative path {rel}",
            h.key()
        );
        seen.push(path.to_string());
    }
    let left = host::existing_cgroup_dirs(&seen)?;
    check!(
        left.is_empty(),
        "cgroup dirs remain after the run: {left:?}"
    );
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
        let path = f
            .cgroup_path(&h.controllers[0])
            .with_context(|| format!("no {} line", h.key()))?;
        check!(
            own.get(&h.key()).map(String::as_str) != Some(path),
            "the container shares the runtime's {} cgroup {path}",
            h.key()
        );
        seen.push(path.to_string());
    }
    let left = host::existing_cgroup_dirs(&seen)?;
    check!(
        left.is_empty(),
        "cgroup dirs remain after the run: {left:?}"
    );
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
