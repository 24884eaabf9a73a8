//! Idmapped mounts (config.md "Mounts": the `idmap` and `ridmap` options, `uidMappings` and
//! `gidMappings` of a mount): what Kubernetes asks for with `hostUsers: false`. A host dir
//! of root-owned files, bound into a container whose user namespace maps container 0 to host
//! 100000, shows its files as the container's root's, and files the container's root makes
//! land on the host as root's. The host dirs live in the case dir (ext4 or tmpfs here, which
//! both take idmapped mounts).

use super::bad_input::{bundle_with_cgroup, rejected};
use super::{Case, Outcome};
use crate::bundle::{make_dir, Bundle};
use crate::ctx::Ctx;
use crate::facts::Facts;
use crate::{check, check_eq, spec};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{chown, MetadataExt};
use std::path::Path;

/// The container's user namespace mapping of every case: container 0 is host 100000.
const CONTAINER_BASE: u32 = 100000;
/// What an id without a mapping shows as (the kernel's overflow id).
const OVERFLOW: u32 = 65534;

pub fn cases() -> Vec<Case> {
    let m = "idmap";
    let predates = "runc 1.1.5 predates idmapped mounts (runtime-spec 1.2) and mounts them without the mapping";
    vec![
        Case::new(m, "host_root_files_are_the_containers_root", host_root_is_container_root)
            .runc_xfail(predates),
        Case::new(m, "ridmap_maps_submounts_idmap_does_not", ridmap_and_submounts).runc_xfail(predates),
        Case::new(m, "mount_mappings_differ_from_the_containers", mount_mappings).runc_xfail(predates),
        Case::new(m, "bad_idmapped_mounts_refused", bad_idmapped_mounts).refusal().runc_xfail(
            "runc 1.1.5 ignores idmap, ridmap, uidMappings and gidMappings, so it creates these containers",
        )
        .runc13_xfail(
            "runc 1.3.6 refuses them, but its errors name the source or the mapping, not the mount (size 0: \"failed to spawn dummy process for map ...: invalid argument\")",
        ),
        Case::new(m, "features_says_enabled", features).runc_xfail(
            "runc 1.1.5's features document has no linux.mountExtensions and lists neither idmap nor ridmap",
        )
        .runc13_xfail("runc 1.3.6 takes idmap and ridmap but its features document lists neither in mountOptions"),
    ]
}

/// A bundle whose container has its own user namespace, container 0 -> host 100000.
fn userns_bundle(ctx: &mut Ctx) -> Result<Bundle> {
    let mut b = ctx.bundle()?;
    with_userns(&mut b.config)?;
    Ok(b)
}

fn with_userns(config: &mut Value) -> Result<()> {
    spec::namespace(config, "user", None)?;
    let mapping = json!([{"containerID": 0, "hostID": CONTAINER_BASE, "size": 65536}]);
    spec::set(config, "/linux/uidMappings", mapping.clone())?;
    spec::set(config, "/linux/gidMappings", mapping)
}

/// A host dir in the case dir holding `file` owned by host root and `file-1000` owned by
/// 1000:1000.
fn host_dir(ctx: &Ctx, name: &str) -> Result<std::path::PathBuf> {
    let dir = ctx.path(name);
    make_dir(&dir)?;
    files_in(&dir)?;
    Ok(dir)
}

fn files_in(dir: &Path) -> Result<()> {
    fs::write(dir.join("file"), "root's\n").context("writing a root-owned file")?;
    fs::write(dir.join("file-1000"), "1000's\n").context("writing a file for uid 1000")?;
    chown(dir.join("file-1000"), Some(1000), Some(1000)).context("chown file-1000")
}

fn owner(f: &Facts, path: &str) -> Result<(u32, u32)> {
    let st = f.stat(path)?;
    check!(st.errno.is_none(), "stat {path} in the container failed: {:?}", st.error);
    Ok((st.uid.context("no uid")?, st.gid.context("no gid")?))
}

fn host_owner(path: &Path) -> Result<(u32, u32)> {
    let md = fs::symlink_metadata(path).with_context(|| format!("stat {} on the host", path.display()))?;
    Ok((md.uid(), md.gid()))
}

/// config.md: `idmap` with no mappings of its own takes the container's user namespace
/// mapping. Host root's files are the container root's; what the container's root makes is
/// host root's on disk; uid 1000 on disk is 1000 inside.
fn host_root_is_container_root(ctx: &mut Ctx) -> Result<Outcome> {
    let src = host_dir(ctx, "src")?;
    let mut b = userns_bundle(ctx)?;
    spec::add_mount(&mut b.config, spec::mount("/mnt", "bind", &src.to_string_lossy(), &["rbind", "idmap"]))?;
    spec::shell(&mut b.config, "touch /mnt/made-inside && exec /checker --stat /mnt/file --stat /mnt/file-1000 --stat /mnt/made-inside")?;
    let (_, out) = ctx.run(&b)?;
    let f = crate::facts::parse(&out.ok("running the container")?.stdout)?;
    check_eq!((f.uid, f.gid), (0, 0), "ids of the process");
    check_eq!(owner(&f, "/mnt/file")?, (0, 0), "owner of host root's file seen in the container");
    check_eq!(owner(&f, "/mnt/file-1000")?, (1000, 1000), "owner of host uid 1000's file seen in the container");
    check_eq!(owner(&f, "/mnt/made-inside")?, (0, 0), "owner of the new file seen in the container");
    check_eq!(host_owner(&src.join("made-inside"))?, (0, 0), "owner on the host of the file the container's root made");
    check_eq!(host_owner(&src.join("file"))?, (0, 0), "owner on the host of the root-owned file");
    Ok(Outcome::Pass)
}

/// config.md: `ridmap` applies the mapping recursively; plain `idmap` maps the mount only,
/// so on an `rbind` the submount keeps the host's ids, which the container sees as the
/// overflow id.
fn ridmap_and_submounts(ctx: &mut Ctx) -> Result<Outcome> {
    let src = host_dir(ctx, "src")?;
    let sub = src.join("sub");
    ctx.host_tmpfs(&sub)?;
    files_in(&sub)?;
    let mut b = userns_bundle(ctx)?;
    let source = src.to_string_lossy().into_owned();
    spec::add_mount(&mut b.config, spec::mount("/mnt", "bind", &source, &["rbind", "ridmap"]))?;
    spec::add_mount(&mut b.config, spec::mount("/root", "bind", &source, &["rbind", "idmap"]))?;
    let f = ctx.checker(&mut b, &["--stat", "/mnt/file", "--stat", "/mnt/sub/file", "--stat", "/root/file", "--stat", "/root/sub/file"])?;
    check_eq!(owner(&f, "/mnt/file")?, (0, 0), "ridmap: owner of host root's file");
    check_eq!(owner(&f, "/mnt/sub/file")?, (0, 0), "ridmap: owner of host root's file on the submount");
    check_eq!(owner(&f, "/root/file")?, (0, 0), "idmap: owner of host root's file");
    check_eq!(owner(&f, "/root/sub/file")?, (OVERFLOW, OVERFLOW), "idmap: owner of host root's file on the submount (not idmapped)");
    Ok(Outcome::Pass)
}

/// config.md: a mount's own `uidMappings`/`gidMappings` MUST be used for it, in place of the
/// container's; with them no user namespace in the container is needed. On-disk id d shows as
/// host id 101000 + d (uids) and 102000 + d (gids), which the container's namespace shows as
/// 1000 + d and 2000 + d.
fn mount_mappings(ctx: &mut Ctx) -> Result<Outcome> {
    let src = host_dir(ctx, "src")?;
    let mapped = |options: &[&str]| -> Value {
        let mut m = spec::mount("/mnt", "bind", &src.to_string_lossy(), options);
        m["uidMappings"] = json!([{"containerID": 0, "hostID": CONTAINER_BASE + 1000, "size": 2000}]);
        m["gidMappings"] = json!([{"containerID": 0, "hostID": CONTAINER_BASE + 2000, "size": 2000}]);
        m
    };
    let mut b = userns_bundle(ctx)?;
    spec::add_mount(&mut b.config, mapped(&["rbind", "idmap"]))?;
    let f = ctx.checker(&mut b, &["--stat", "/mnt/file", "--stat", "/mnt/file-1000"])?;
    check_eq!(owner(&f, "/mnt/file")?, (1000, 2000), "owner of host root's file under the mount's own mapping");
    check_eq!(owner(&f, "/mnt/file-1000")?, (2000, 3000), "owner of uid 1000's file under the mount's own mapping");

    // No user namespace in the container: the container sees the host ids the mapping gives.
    let mut b = ctx.bundle()?;
    spec::add_mount(&mut b.config, mapped(&["rbind", "idmap"]))?;
    let f = ctx.checker(&mut b, &["--stat", "/mnt/file"])?;
    check_eq!(
        owner(&f, "/mnt/file")?,
        (CONTAINER_BASE + 1000, CONTAINER_BASE + 2000),
        "owner of host root's file, container without a user namespace"
    );
    check_eq!(host_owner(&src.join("file"))?, (0, 0), "owner on the host of the root-owned file");
    Ok(Outcome::Pass)
}

/// config.md errors, each named with the mount and leaving nothing behind: idmap without
/// mappings in a container without a user namespace; uidMappings without gidMappings; a
/// mapping of size 0; an idmapped tmpfs (only binds are idmapped); a missing source; and
/// mappings the kernel refuses (overlapping ranges), which fail while the runtime makes the
/// mount's own user namespace.
fn bad_idmapped_mounts(ctx: &mut Ctx) -> Result<Outcome> {
    let src = host_dir(ctx, "src")?;
    let source = src.to_string_lossy().into_owned();
    let one = json!([{"containerID": 0, "hostID": CONTAINER_BASE, "size": 10}]);
    type Edit = fn(&mut Value, &str, &Value);
    let bad: [(&str, bool, Edit); 6] = [
        ("/idmap-needs-userns", false, |m, _, _| m["options"] = json!(["rbind", "idmap"])),
        ("/idmap-uid-only", true, |m, _, one| m["uidMappings"] = one.clone()),
        ("/idmap-size-zero", true, |m, _, one| {
            m["uidMappings"] = json!([{"containerID": 0, "hostID": CONTAINER_BASE, "size": 0}]);
            m["gidMappings"] = one.clone();
        }),
        ("/idmap-tmpfs", true, |m, _, _| {
            *m = spec::mount(m["destination"].as_str().unwrap_or_default(), "tmpfs", "tmpfs", &["idmap"]);
        }),
        ("/idmap-missing-source", true, |m, src, _| m["source"] = json!(format!("{src}/no-such-dir"))),
        ("/idmap-overlapping", true, |m, _, one| {
            m["uidMappings"] = json!([{"containerID": 0, "hostID": 200000, "size": 10}, {"containerID": 5, "hostID": 300000, "size": 10}]);
            m["gidMappings"] = one.clone();
        }),
    ];
    for (dest, userns, edit) in bad {
        let (mut b, id, cg) = bundle_with_cgroup(ctx)?;
        if userns {
            with_userns(&mut b.config)?;
        }
        let mut m = spec::mount(dest, "bind", &source, &["rbind", "idmap"]);
        edit(&mut m, &source, &one);
        spec::add_mount(&mut b.config, m)?;
        rejected(ctx, &mut b, &id, &cg, &[dest]).with_context(|| format!("the mount {dest}"))?;
    }
    Ok(Outcome::Pass)
}

/// features-linux.md: `mountExtensions.idmap.enabled` MUST be true when the runtime reads
/// `uidMappings` and `gidMappings`; the options are in `mountOptions` (features.md).
fn features(ctx: &mut Ctx) -> Result<Outcome> {
    let out = ctx.call(&["features"])?.ok("features")?;
    let doc: Value = serde_json::from_str(&out.stdout).context("features printed no JSON")?;
    check_eq!(doc.pointer("/linux/mountExtensions/idmap/enabled"), Some(&json!(true)), "linux.mountExtensions.idmap.enabled");
    let options = doc["mountOptions"].as_array().context("no mountOptions")?;
    for o in ["idmap", "ridmap"] {
        check!(options.iter().any(|v| v == o), "mountOptions lacks {o}: {options:?}");
    }
    Ok(Outcome::Pass)
}
