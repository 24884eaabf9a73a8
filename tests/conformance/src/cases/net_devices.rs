//! linux.netDevices (config-linux.md "Network Devices"): a host device moved into the
//! container's network namespace under its new name, with its permanent global address and
//! set up; destroyed with the namespace (a veth is virtual), never moved back. This host has no
//! dummy module, so the device is one end of a veth pair the case makes. runc 1.1.5 predates
//! the field (runtime-spec 1.2) and ignores it.

use std::process::Command;
use std::time::{Duration, Instant};

use super::bad_input::{bundle_with_cgroup, rejected};
use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::spec;
use crate::{check, check_eq};
use anyhow::{bail, Context, Result};
use serde_json::json;

const LACKS: &str = "runc 1.1.5 predates linux.netDevices (runtime-spec 1.2) and ignores it";
const LACKS_13: &str = "runc 1.3 does not implement linux.netDevices (runtime-spec 1.2) and ignores it";

pub fn cases() -> Vec<Case> {
    let m = "net_devices";
    vec![
        Case::new(m, "veth_moved_renamed_up_with_address", moved).runc_xfail(LACKS).runc13_xfail(LACKS_13),
        Case::new(m, "missing_device_refused", missing).refusal().runc_xfail(LACKS).runc13_xfail(LACKS_13),
    ]
}

fn ip(args: &[&str]) -> Result<std::process::Output> {
    Command::new("ip").args(args).output().context("run ip(8)")
}

fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// A veth pair on the host, removed when dropped if it still exists.
struct Veth {
    end: String,
    peer: String,
}

impl Veth {
    fn new(tag: u32) -> Result<Veth> {
        let v = Veth { end: format!("ykc{tag}a"), peer: format!("ykc{tag}b") };
        let out = ip(&["link", "add", &v.end, "type", "veth", "peer", "name", &v.peer])?;
        if !out.status.success() {
            bail!("ip link add {} type veth: {}", v.end, String::from_utf8_lossy(&out.stderr));
        }
        Ok(v)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for n in [&self.end, &self.peer] {
            if link_exists(n) {
                let _ = ip(&["link", "del", n]);
            }
        }
    }
}

fn moved(ctx: &mut Ctx) -> Result<Outcome> {
    if Command::new("ip").arg("-V").output().is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound) {
        return Ok(Outcome::Skip("ip(8) (iproute2) is missing: the case makes its veth pair with it".into()));
    }
    let veth = Veth::new(std::process::id() % 100_000)?;
    let out = ip(&["addr", "add", "10.251.7.1/24", "dev", &veth.end])?;
    check!(out.status.success(), "ip addr add: {}", String::from_utf8_lossy(&out.stderr));
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/linux/netDevices", json!({ veth.end.as_str(): {"name": "ctr0"} }))?;
    spec::shell(&mut b.config, "ls /sys/class/net; echo flags=$(cat /sys/class/net/ctr0/flags); busybox ip -4 addr show dev ctr0")?;
    let (_, out) = ctx.run(&b)?;
    let out = out.ok("run with netDevices")?;
    let names: Vec<&str> = out.stdout.lines().take_while(|l| !l.starts_with("flags=")).collect();
    check!(names.contains(&"ctr0") && !names.contains(&veth.end.as_str()), "devices in the container: {names:?}");
    let flags = out.stdout.lines().find_map(|l| l.strip_prefix("flags=")).unwrap_or("");
    let flags = u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap_or(0);
    check_eq!(flags & 0x1, 0x1, "IFF_UP of ctr0 (flags {flags:#x})");
    check!(out.stdout.contains("inet 10.251.7.1/24"), "the permanent address did not move with the device: {:?}", out.stdout);
    // The container is gone: its namespace dies, and with it the veth (both ends).
    let deadline = Instant::now() + Duration::from_secs(10);
    while (link_exists(&veth.end) || link_exists(&veth.peer)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    check!(!link_exists(&veth.end), "the device came back to the host; the spec says it must not be moved out");
    check!(!link_exists(&veth.peer), "the veth peer outlived the container's network namespace");
    Ok(Outcome::Pass)
}

fn missing(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/netDevices", json!({"ykc-missing0": {}}))?;
    rejected(ctx, &mut b, &id, &cg, &["netDevices"])
}
