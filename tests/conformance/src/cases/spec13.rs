//! runtime-spec 1.3: `ociVersion` 1.3.0 (what containerd 2.2 writes) and the version check,
//! `linux.memoryPolicy` (config-linux.md "Memory policy", read back with get_mempolicy(2)),
//! `user.*` sysctls in a container with its own user namespace, a closID that would leave the
//! resctrl root, and the `features` document (features.md). runc 1.1.5 predates
//! memoryPolicy and ignores it, looks at no ociVersion, and refuses user.* sysctls whatever the
//! namespaces: those cases carry the runc-xfail mark.

use super::bad_input::{bundle_with_cgroup, rejected};
use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::facts::MemPolicy;
use crate::spec;
use crate::{check, check_eq};
use anyhow::Result;
use serde_json::json;

const NO_MEMPOLICY: &str = "runc 1.1.5 predates linux.memoryPolicy (runtime-spec 1.3) and ignores it";

/// runc 1.3 still predates linux.memoryPolicy.
const NO_MEMPOLICY_13: &str = "runc 1.3.6 predates linux.memoryPolicy (runtime-spec 1.3) and ignores it";

pub fn cases() -> Vec<Case> {
    let m = "spec13";
    vec![
        Case::new(m, "oci_version_1_3_runs", version_1_3),
        Case::new(m, "oci_version_2_refused", version_2)
            .refusal()
            .runc_xfail("runc 1.1.5 does not look at ociVersion and runs a 2.0.0 config")
            .runc13_xfail("runc 1.3.6 does not look at ociVersion either and runs a 2.0.0 config"),
        Case::new(m, "memory_policy_bind", mempolicy_bind).runc_xfail(NO_MEMPOLICY).runc13_xfail(NO_MEMPOLICY_13),
        Case::new(m, "memory_policy_interleave_static_nodes", mempolicy_interleave).runc_xfail(NO_MEMPOLICY).runc13_xfail(NO_MEMPOLICY_13),
        Case::new(m, "memory_policy_bad_nodes_refused", mempolicy_bad_nodes)
            .refusal()
            .runc_xfail(NO_MEMPOLICY)
            .runc13_xfail(NO_MEMPOLICY_13),
        Case::new(m, "memory_policy_nodes_for_local_refused", mempolicy_local_nodes)
            .refusal()
            .runc_xfail(NO_MEMPOLICY)
            .runc13_xfail(NO_MEMPOLICY_13),
        Case::new(m, "memory_policy_absent_node_fails_cleanly", mempolicy_absent_node)
            .refusal()
            .runc_xfail(NO_MEMPOLICY)
            .runc13_xfail(NO_MEMPOLICY_13),
        Case::new(m, "user_sysctl_in_own_user_ns", user_sysctl)
            .runc_xfail("runc 1.1.5 refuses every user.* sysctl as \"not in a separate kernel namespace\", even with a new user namespace")
            .runc13_xfail("runc 1.3.6 still refuses every user.* sysctl as \"not in a separate kernel namespace\""),
        Case::new(m, "user_sysctl_without_user_ns_refused", user_sysctl_refused).refusal(),
        Case::new(m, "intel_rdt_clos_id_escaping_resctrl_refused", rdt_bad_clos_id).refusal(),
        Case::new(m, "intel_rdt_schemata_line_with_newline_refused", rdt_bad_schemata)
            .refusal()
            .runc_xfail("runc 1.1.5 predates linux.intelRdt.schemata (runtime-spec 1.3) and ignores an intelRdt with no field it knows")
            .runc13_xfail("runc 1.3.6 predates linux.intelRdt.schemata (runtime-spec 1.3) and runs the config"),
        Case::new(m, "features_document_is_1_3", features)
            .runc_xfail("runc 1.1.5's features says ociVersionMax 1.0.2-dev and has no memoryPolicy")
            .runc13_xfail("runc 1.3.6's features says ociVersionMax 1.2.1 and has no memoryPolicy"),
    ]
}

/// config.md "Specification version": a 1.3.0 config (containerd 2.2+) runs, pre-releases too.
fn version_1_3(ctx: &mut Ctx) -> Result<Outcome> {
    for v in ["1.3.0", "1.3.0-rc.1"] {
        let mut b = ctx.bundle()?;
        spec::set(&mut b.config, "/ociVersion", json!(v))?;
        let f = ctx.checker(&mut b, &[])?;
        check_eq!(f.uid, 0, "uid of the container's process with ociVersion {v}");
    }
    Ok(Outcome::Pass)
}

/// A major version this runtime does not implement is an error that names the version.
fn version_2(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/ociVersion", json!("2.0.0"))?;
    rejected(ctx, &mut b, &id, &cg, &["2.0.0"])
}

fn mempolicy_of(ctx: &mut Ctx, policy: serde_json::Value) -> Result<Option<MemPolicy>> {
    let mut b = ctx.bundle()?;
    spec::set(&mut b.config, "/linux/memoryPolicy", policy)?;
    Ok(ctx.checker(&mut b, &[])?.mempolicy)
}

/// MPOL_BIND (2) to node 0, the one node every NUMA host has.
fn mempolicy_bind(ctx: &mut Ctx) -> Result<Outcome> {
    let got = mempolicy_of(ctx, json!({"mode": "MPOL_BIND", "nodes": "0"}))?;
    check_eq!(got, Some(MemPolicy { mode: 2, flags: 0, nodes: vec![0] }), "memory policy of the container's process");
    Ok(Outcome::Pass)
}

/// MPOL_INTERLEAVE (3) with MPOL_F_STATIC_NODES (1 << 15): the flag reaches the kernel.
fn mempolicy_interleave(ctx: &mut Ctx) -> Result<Outcome> {
    let got = mempolicy_of(ctx, json!({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}))?;
    check_eq!(got, Some(MemPolicy { mode: 3, flags: 1 << 15, nodes: vec![0] }), "memory policy of the container's process");
    Ok(Outcome::Pass)
}

/// A node list that is not one (config-linux.md: comma-separated numbers and ranges).
fn mempolicy_bad_nodes(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/memoryPolicy", json!({"mode": "MPOL_BIND", "nodes": "0-"}))?;
    rejected(ctx, &mut b, &id, &cg, &["memorypolicy", "mempolicy"])
}

/// config-linux.md: MPOL_LOCAL requires that there are no nodes.
fn mempolicy_local_nodes(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/memoryPolicy", json!({"mode": "MPOL_LOCAL", "nodes": "0"}))?;
    rejected(ctx, &mut b, &id, &cg, &["memorypolicy", "mempolicy"])
}

/// A well-formed list naming a node the host lacks: the kernel refuses it (EINVAL), create
/// fails saying so, and nothing is left.
fn mempolicy_absent_node(ctx: &mut Ctx) -> Result<Outcome> {
    if std::path::Path::new("/sys/devices/system/node/node1000").exists() {
        return Ok(Outcome::Skip("this host has a NUMA node 1000".into()));
    }
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/memoryPolicy", json!({"mode": "MPOL_BIND", "nodes": "1000"}))?;
    rejected(ctx, &mut b, &id, &cg, &["mempolicy"])
}

fn user_ns(b: &mut crate::bundle::Bundle) -> Result<()> {
    spec::namespace(&mut b.config, "user", None)?;
    let mapping = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec::set(&mut b.config, "/linux/uidMappings", mapping.clone())?;
    spec::set(&mut b.config, "/linux/gidMappings", mapping)
}

/// user.max_* limit the user namespace they are written in: with a new one they are the
/// container's own, and the container reads back what the spec set.
fn user_sysctl(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    user_ns(&mut b)?;
    spec::set(&mut b.config, "/linux/sysctl", json!({"user.max_user_namespaces": "7"}))?;
    let f = ctx.checker(&mut b, &["--read", "/proc/sys/user/max_user_namespaces"])?;
    check!(f.ns("user") != Some(ctx.suite.host_ns["user"].as_str()), "user namespace is the host's");
    check_eq!(f.content("/proc/sys/user/max_user_namespaces")?.trim(), "7", "user.max_user_namespaces in the container");
    let host = std::fs::read_to_string("/proc/sys/user/max_user_namespaces")?;
    check!(host.trim() != "7", "the host's user.max_user_namespaces changed to 7");
    Ok(Outcome::Pass)
}

/// Without a user namespace of its own, user.* would change the host's limits.
fn user_sysctl_refused(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/sysctl", json!({"user.max_user_namespaces": "7"}))?;
    rejected(ctx, &mut b, &id, &cg, &["user.max_user_namespaces"])
}

/// A closID is one directory name under the resctrl root: "../x" is refused (with or without
/// resctrl on the host), and nothing is made.
fn rdt_bad_clos_id(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/intelRdt", json!({"closID": "../conformance-escape", "schemata": ["L3:0=f"]}))?;
    rejected(ctx, &mut b, &id, &cg, &["closid", "rdt"])?;
    check!(!std::path::Path::new("/sys/fs/conformance-escape").exists(), "a directory was made outside resctrl");
    Ok(Outcome::Pass)
}

/// config-linux.md: a `schemata` entry MUST NOT contain newlines (it would smuggle a second
/// line into the group's schemata file).
fn rdt_bad_schemata(ctx: &mut Ctx) -> Result<Outcome> {
    let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
    spec::set(&mut b.config, "/linux/intelRdt", json!({"schemata": ["L3:0=f\nMB:0=10"]}))?;
    rejected(ctx, &mut b, &id, &cg, &["schemata", "rdt"])
}

/// features.md: the document names ociVersionMin/Max, and a 1.3 runtime reports what it
/// recognizes of 1.3 (memoryPolicy, with the modes config-linux.md lists).
fn features(ctx: &mut Ctx) -> Result<Outcome> {
    let out = ctx.call(&["features"])?.ok("features")?;
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)?;
    check!(doc["ociVersionMin"].is_string(), "features lacks ociVersionMin: {doc}");
    let max = doc["ociVersionMax"].as_str().unwrap_or_default();
    let minor = max.strip_prefix("1.").and_then(|r| r.split('.').next()).and_then(|m| m.parse::<u32>().ok());
    check!(minor.is_some_and(|m| m >= 3), "ociVersionMax {max:?} is below 1.3.0");
    let modes = doc["linux"]["memoryPolicy"]["modes"].as_array().cloned().unwrap_or_default();
    for mode in
        ["MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"]
    {
        check!(modes.iter().any(|m| m == mode), "features' linux.memoryPolicy.modes lacks {mode}: {modes:?}");
    }
    Ok(Outcome::Pass)
}
