//! Namespaces: new ones differ from the runtime's, unlisted ones are inherited, paths join
//! existing ones, user namespaces map ids (joined ones with the mappings config.json gives,
//! as containerd 2.x sends for `hostUsers: false`), and time namespaces apply their offsets.

use super::{Case, Outcome};
use crate::ctx::Ctx;
use crate::{check, check_eq, host, spec};
use anyhow::{Context, Result};
use serde_json::json;
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    let m = "namespaces";
    vec![
        Case::new(m, "new_pid", |c| new_namespace(c, "pid", "pid")),
        Case::new(m, "new_network", |c| new_namespace(c, "network", "net")),
        Case::new(m, "new_ipc", |c| new_namespace(c, "ipc", "ipc")),
        Case::new(m, "new_uts", |c| new_namespace(c, "uts", "uts")),
        Case::new(m, "new_mount", |c| new_namespace(c, "mount", "mnt")),
        Case::new(m, "new_cgroup", new_cgroup),
        Case::new(m, "pid_ns_process_is_pid_1", pid_is_1),
        Case::new(m, "unlisted_are_inherited", unlisted_are_inherited),
        Case::new(m, "user_ns_mappings", user_ns_mappings),
        Case::new(m, "join_by_path", join_by_path),
        Case::new(m, "join_user_ns_with_its_mappings", join_user_ns_with_its_mappings),
        Case::new(m, "join_user_ns_with_other_mappings_refused", join_user_ns_with_other_mappings)
            .refusal()
            .runc_xfail("runc 1.1.5 does not compare the mappings with the joined user namespace's and runs the container")
            .runc13_xfail(
                "runc 1.3.6 refuses it, but its error names neither mapping (\"both namespace path and non-matching mapping specified\")",
            ),
        Case::new(m, "join_user_ns_and_a_root_only_netns_path", join_user_ns_and_root_only_netns),
        Case::new(m, "join_user_ns_and_a_bind_from_a_root_only_dir", join_user_ns_and_bind_from_root_only_dir),
        Case::new(m, "join_user_ns_with_oom_score_adj", join_user_ns_with_oom_score_adj),
        Case::new(m, "new_user_ns_with_oom_score_adj", new_user_ns_with_oom_score_adj),
        Case::new(m, "time_offsets", time_offsets)
            .runc_xfail("runc 1.1.5 does not know the time namespace or linux.timeOffsets (runtime-spec 1.2)"),
    ]
}

/// The namespace of `link_name` must differ from the runtime's when the config asks for a new one.
fn new_namespace(ctx: &mut Ctx, kind: &str, link_name: &str) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::namespace(&mut b.config, kind, None)?;
    let facts = ctx.checker(&mut b, &[])?;
    let host = ctx.suite.host_ns.get(link_name).with_context(|| format!("host has no {link_name} ns link"))?;
    let inside = facts.ns(link_name).with_context(|| format!("the checker saw no {link_name} ns link"))?;
    check!(inside != host, "{kind} namespace is the host's ({host}) although a new one was requested");
    Ok(Outcome::Pass)
}

fn new_cgroup(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::namespace(&mut b.config, "cgroup", None)?;
    let facts = ctx.checker(&mut b, &[])?;
    let host = &ctx.suite.host_ns["cgroup"];
    check!(facts.ns("cgroup") != Some(host.as_str()), "cgroup namespace is the host's ({host})");
    // In its own cgroup namespace the container's cgroups are the namespace roots.
    for line in facts.cgroup.as_deref().unwrap_or_default() {
        check!(line.ends_with(":/"), "with a new cgroup namespace /proc/self/cgroup should show \"/\": {line:?}");
    }
    Ok(Outcome::Pass)
}

fn pid_is_1(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    let facts = ctx.checker(&mut b, &[])?;
    check_eq!(facts.pid, 1, "pid of the process in a new pid namespace");
    check_eq!(facts.ppid, 0, "parent pid of the pid namespace's init");
    Ok(Outcome::Pass)
}

/// config-linux.md: a type missing from `namespaces` is inherited from the runtime.
fn unlisted_are_inherited(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::remove_namespace(&mut b.config, "ipc");
    spec::remove_namespace(&mut b.config, "uts");
    spec::remove(&mut b.config, "/hostname");
    let facts = ctx.checker(&mut b, &[])?;
    for link in ["ipc", "uts", "user", "cgroup"] {
        let host = &ctx.suite.host_ns[link];
        check_eq!(facts.ns(link), Some(host.as_str()), "{link} namespace not listed in the config");
    }
    Ok(Outcome::Pass)
}

fn user_ns_mappings(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::namespace(&mut b.config, "user", None)?;
    let mapping = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    spec::set(&mut b.config, "/linux/uidMappings", mapping.clone())?;
    spec::set(&mut b.config, "/linux/gidMappings", mapping)?;
    let facts = ctx.checker(&mut b, &["--read", "/proc/self/uid_map", "--read", "/proc/self/gid_map"])?;
    check!(facts.ns("user") != Some(ctx.suite.host_ns["user"].as_str()), "user namespace is the host's");
    check_eq!((facts.uid, facts.gid), (0, 0), "ids inside the user namespace");
    for map in ["/proc/self/uid_map", "/proc/self/gid_map"] {
        let fields: Vec<&str> = facts.content(map)?.split_whitespace().collect();
        check_eq!(fields, vec!["0", "100000", "65536"], "{map}");
    }
    Ok(Outcome::Pass)
}

/// Waits until a freshly spawned `unshare` helper has its own namespaces.
fn wait_for_new_ns(ctx: &Ctx, pid: u32, links: &[&str]) -> Result<()> {
    let started = Instant::now();
    loop {
        let ns = host::namespaces(&pid.to_string());
        if links.iter().all(|l| ns.get(*l).is_some_and(|v| Some(v) != ctx.suite.host_ns.get(*l))) {
            return Ok(());
        }
        check!(started.elapsed() < Duration::from_secs(5), "helper {pid} did not enter new namespaces");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn join_by_path(ctx: &mut Ctx) -> Result<Outcome> {
    let pid = ctx.spawn_helper("unshare", &["--net", "--uts", "--ipc", "/bin/busybox", "sleep", "60"])?;
    wait_for_new_ns(ctx, pid, &["net", "uts", "ipc"])?;
    let helper = host::namespaces(&pid.to_string());
    let mut b = ctx.bundle()?;
    for (kind, link) in [("network", "net"), ("uts", "uts"), ("ipc", "ipc")] {
        spec::namespace(&mut b.config, kind, Some(&format!("/proc/{pid}/ns/{link}")))?;
    }
    let facts = ctx.checker(&mut b, &[])?;
    for link in ["net", "uts", "ipc"] {
        check_eq!(facts.ns(link), helper.get(link).map(String::as_str), "{link} namespace joined by path");
    }
    Ok(Outcome::Pass)
}

fn time_offsets(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::namespace(&mut b.config, "time", None)?;
    spec::set(
        &mut b.config,
        "/linux/timeOffsets",
        json!({"monotonic": {"secs": 86400, "nanosecs": 0}, "boottime": {"secs": 3600, "nanosecs": 500}}),
    )?;
    let facts = ctx.checker(&mut b, &["--read", "/proc/self/timens_offsets"])?;
    let host = ctx.suite.host_ns.get("time").context("the host has no time namespace link")?;
    check!(facts.ns("time") != Some(host.as_str()), "time namespace is the host's ({host})");
    let offsets = facts.content("/proc/self/timens_offsets")?;
    let rows: Vec<Vec<&str>> = offsets.lines().map(|l| l.split_whitespace().collect()).collect();
    // time_namespaces(7): one line per clock, named or numbered (1 = monotonic, 7 = boottime).
    let find = |names: [&str; 2]| rows.iter().find(|r| r.first().is_some_and(|c| names.contains(c))).cloned();
    check_eq!(find(["monotonic", "1"]).map(|r| r[1..].to_vec()), Some(vec!["86400", "0"]), "monotonic offset");
    check_eq!(find(["boottime", "7"]).map(|r| r[1..].to_vec()), Some(vec!["3600", "500"]), "boottime offset");
    Ok(Outcome::Pass)
}

/// The mapping of the user namespaces the join cases make: container 0 is host 100000.
const JOINED_BASE: u32 = 100000;

/// A helper in a user namespace of its own, its maps written by us (host root) as
/// `0 JOINED_BASE 65536`; returns its pid.
fn userns_helper(ctx: &mut Ctx, net: bool) -> Result<u32> {
    let args: &[&str] = if net { &["--user", "--net", "/bin/busybox", "sleep", "60"] } else { &["--user", "/bin/busybox", "sleep", "60"] };
    let pid = ctx.spawn_helper("unshare", args)?;
    wait_for_new_ns(ctx, pid, if net { &["user", "net"] } else { &["user"] })?;
    for file in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{file}"), format!("0 {JOINED_BASE} 65536\n"))
            .with_context(|| format!("writing /proc/{pid}/{file}"))?;
    }
    Ok(pid)
}

/// A bundle that joins the helper's user namespace by path, with `uid`/`gid` mappings.
fn joining(ctx: &mut Ctx, pid: u32, uid_host: u32, gid_host: u32) -> Result<crate::bundle::Bundle> {
    let mut b = ctx.bundle()?;
    spec::namespace(&mut b.config, "user", Some(&format!("/proc/{pid}/ns/user")))?;
    spec::set(&mut b.config, "/linux/uidMappings", json!([{"containerID": 0, "hostID": uid_host, "size": 65536}]))?;
    spec::set(&mut b.config, "/linux/gidMappings", json!([{"containerID": 0, "hostID": gid_host, "size": 65536}]))?;
    Ok(b)
}

/// config-linux.md: joining a user namespace by path with uidMappings/gidMappings is allowed
/// when they are the namespace's; the container is in that namespace, root inside.
fn join_user_ns_with_its_mappings(ctx: &mut Ctx) -> Result<Outcome> {
    let pid = userns_helper(ctx, false)?;
    let helper = host::namespaces(&pid.to_string());
    let mut b = joining(ctx, pid, JOINED_BASE, JOINED_BASE)?;
    let facts = ctx.checker(&mut b, &["--read", "/proc/self/uid_map", "--read", "/proc/self/gid_map"])?;
    check_eq!(facts.ns("user"), helper.get("user").map(String::as_str), "user namespace joined by path");
    check_eq!((facts.uid, facts.gid), (0, 0), "ids inside the joined user namespace");
    for map in ["/proc/self/uid_map", "/proc/self/gid_map"] {
        let fields: Vec<&str> = facts.content(map)?.split_whitespace().collect();
        check_eq!(fields, vec!["0", "100000", "65536"], "{map}");
    }
    Ok(Outcome::Pass)
}

/// config-linux.md: mappings that differ from the joined user namespace's are an error; it
/// names both, and nothing is left.
fn join_user_ns_with_other_mappings(ctx: &mut Ctx) -> Result<Outcome> {
    let pid = userns_helper(ctx, false)?;
    let (mut b, id, cg) = super::bad_input::bundle_with_cgroup(ctx)?;
    let want = joining(ctx, pid, JOINED_BASE, 200000)?;
    b.config = want.config;
    // Both the given mapping and the namespace's own are named (two tries, one word each).
    super::bad_input::rejected(ctx, &mut b, &id, &cg, &["200000"])?;
    super::bad_input::rejected(ctx, &mut b, &id, &cg, &["100000"])
}

/// A joined user namespace with its network namespace bound in a directory only host root
/// may enter (as containerd 2.x's CNI netns of a `hostUsers: false` pod): the runtime opens
/// every namespace file before it joins the user namespace, where that directory is out of
/// reach.
fn join_user_ns_and_root_only_netns(ctx: &mut Ctx) -> Result<Outcome> {
    let pid = userns_helper(ctx, true)?;
    let private = ctx.path("netns-private");
    crate::bundle::make_dir(&private)?;
    std::fs::set_permissions(&private, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
    let file = private.join("net");
    std::fs::write(&file, b"").context("making the netns bind target")?;
    ctx.host_bind(std::path::Path::new(&format!("/proc/{pid}/ns/net")), &file)?;
    let helper_net = host::namespaces(&pid.to_string()).get("net").cloned();
    let mut b = joining(ctx, pid, JOINED_BASE, JOINED_BASE)?;
    spec::namespace(&mut b.config, "network", Some(&file.to_string_lossy()))?;
    let facts = ctx.checker(&mut b, &[])?;
    check_eq!(facts.ns("net").map(str::to_string), helper_net, "network namespace joined by a root-only path");
    Ok(Outcome::Pass)
}

/// A bind whose source sits in a directory only host root may search (as containerd's
/// sandbox directory holding a pod's /dev/shm), in a container that joins a user namespace:
/// the runtime opens the source before init is in that namespace, where the directory is out
/// of reach.
fn join_user_ns_and_bind_from_root_only_dir(ctx: &mut Ctx) -> Result<Outcome> {
    use std::os::unix::fs::PermissionsExt;
    let pid = userns_helper(ctx, false)?;
    let private = ctx.path("bind-private");
    let shm = private.join("shm");
    crate::bundle::make_dir(&shm)?;
    std::fs::write(shm.join("note"), b"from a root-only dir").context("writing the bind's file")?;
    std::fs::set_permissions(shm.join("note"), std::fs::Permissions::from_mode(0o644))?;
    std::fs::set_permissions(&shm, std::fs::Permissions::from_mode(0o755))?;
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700))?;
    let mut b = joining(ctx, pid, JOINED_BASE, JOINED_BASE)?;
    // The mount point exists: mapped root may not make one in the host-owned rootfs.
    spec::add_mount(&mut b.config, spec::mount("/mnt", "bind", &shm.to_string_lossy(), &["rbind", "ro"]))?;
    let facts = ctx.checker(&mut b, &["--read", "/mnt/note"])?;
    check_eq!(facts.content("/mnt/note")?.trim(), "from a root-only dir", "the bind's file inside the container");
    Ok(Outcome::Pass)
}

/// A joined user namespace and `oomScoreAdj` (a Kubernetes pod with `hostUsers: false`
/// always has one): the value is written before init is root of that namespace, where its
/// /proc/self is out of its reach.
fn join_user_ns_with_oom_score_adj(ctx: &mut Ctx) -> Result<Outcome> {
    let pid = userns_helper(ctx, false)?;
    let mut b = joining(ctx, pid, JOINED_BASE, JOINED_BASE)?;
    spec::set(&mut b.config, "/process/oomScoreAdj", json!(500))?;
    let facts = ctx.checker(&mut b, &[])?;
    check_eq!(facts.oom_score_adj, Some(500), "oom_score_adj in a joined user namespace");
    Ok(Outcome::Pass)
}

/// The same in a new user namespace.
fn new_user_ns_with_oom_score_adj(ctx: &mut Ctx) -> Result<Outcome> {
    let mut b = ctx.bundle()?;
    spec::namespace(&mut b.config, "user", None)?;
    let map = json!([{"containerID": 0, "hostID": JOINED_BASE, "size": 65536}]);
    spec::set(&mut b.config, "/linux/uidMappings", map.clone())?;
    spec::set(&mut b.config, "/linux/gidMappings", map)?;
    spec::set(&mut b.config, "/process/oomScoreAdj", json!(500))?;
    let facts = ctx.checker(&mut b, &[])?;
    check_eq!(facts.oom_score_adj, Some(500), "oom_score_adj in a new user namespace");
    Ok(Outcome::Pass)
}
