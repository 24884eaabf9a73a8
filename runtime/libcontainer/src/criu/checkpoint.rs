//! `checkpoint`: reads what criu must know from the running container (its plan, cgroup
//! views, masked files, joined namespaces, stdio), plans the dump (`criu_plan`), runs criu,
//! and without --leave-running or --pre-dump removes the container, as runc does.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::create::state::{ContainerDir, ContainerState, Status};
use crate::criu::criu_plan::{self, DumpFacts, DumpOptions, ExternalNs, Live, DUMP_FACTS};
use crate::criu::{self, CriuError};
use crate::error::ContainerError;
use crate::plan::host::HostFacts;
use crate::plan::Plan;

/// Dumps the container `id` into `o.criu.image_path`.
pub fn checkpoint(root: &Path, id: &str, o: &DumpOptions) -> Result<(), ContainerError> {
    crate::telemetry::attr("container.id", id);
    criu_plan::check_common(&o.criu).map_err(CriuError::from)?;
    // The lock only around the read: never across criu.
    let st = ContainerDir::open(root, id)?.load()?;
    let status = st.live_status(&root.join(id));
    if status != Status::Running {
        return Err(ContainerError::BadStatus { op: "checkpoint", id: id.to_string(), status });
    }
    let (_, spec) = crate::create::load_spec(&st.bundle)?;
    let host = HostFacts::read(&spec)?;
    let plan = crate::plan::plan(&spec, &st.bundle, &host).map_err(ContainerError::Spec)?;
    let views = match &st.cgroup {
        Some(cg) => libcgroups::from_state(cg)?.views(),
        None => Vec::new(),
    };
    let facts = DumpFacts { masked_files: masked_files(st.pid, &plan), stdio: stdio_targets(st.pid) };
    let user_ns = st.namespaces.contains(&crate::namespaces::NsKind::User);
    let live = Live {
        pid: st.pid,
        rootfs: &st.rootfs,
        terminal: plan.process.terminal,
        mounts: criu_plan::external_mounts(&plan, &views, &facts.masked_files, user_ns),
        namespaces: external_namespaces(&plan)?,
    };
    let criu_plan = criu_plan::dump_plan(o, live).map_err(CriuError::from)?;
    criu::make_dirs(&criu_plan)?;
    write_facts(&criu_plan.images, &facts)?;
    crate::telemetry::span("criu dump", || criu::run_dump(&criu_plan, id))?;
    if o.leave_running || o.pre_dump {
        return Ok(());
    }
    // criu killed the processes; the container goes away with its cgroup and state.
    remove_dumped(root, &st)
}

fn remove_dumped(root: &Path, st: &ContainerState) -> Result<(), ContainerError> {
    crate::lifecycle::delete(root, &st.id, true)
}

/// The masked paths that are files in the running container: /dev/null is bound over each.
fn masked_files(pid: i32, plan: &Plan) -> Vec<PathBuf> {
    let base = PathBuf::from(format!("/proc/{pid}/root"));
    plan.masked_paths
        .iter()
        .filter(|p| {
            let inside = base.join(p.strip_prefix("/").unwrap_or(p));
            fs::metadata(inside).map(|m| !m.is_dir()).unwrap_or(false)
        })
        .cloned()
        .collect()
}

/// Where fd 0, 1 and 2 of init point.
fn stdio_targets(pid: i32) -> Vec<(i32, String)> {
    (0..=2)
        .filter_map(|fd| {
            let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect()
}

/// The joined net and pid namespaces with their inodes.
fn external_namespaces(plan: &Plan) -> Result<Vec<ExternalNs>, ContainerError> {
    let kinds = criu_plan::external_namespace_kinds(plan).map_err(CriuError::from)?;
    let mut out = Vec::new();
    for (kind, path) in kinds {
        let md = fs::metadata(&path).map_err(criu::io("stat namespace", &path))?;
        out.push(ExternalNs { kind, path, inode: md.ino() });
    }
    Ok(out)
}

fn write_facts(images: &Path, facts: &DumpFacts) -> Result<(), CriuError> {
    let path = images.join(DUMP_FACTS);
    let data = serde_json::to_vec_pretty(facts).map_err(|e| CriuError::Io { op: "encode", path: path.clone(), source: e.into() })?;
    fs::write(&path, data).map_err(criu::io("write", &path))
}

/// Reads the facts a youki dump left beside the images; images from elsewhere have none.
pub fn read_facts(images: &Path) -> Result<DumpFacts, CriuError> {
    let path = images.join(DUMP_FACTS);
    match fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data).map_err(|e| CriuError::Io { op: "decode", path, source: e.into() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DumpFacts::default()),
        Err(e) => Err(criu::io("read", &path)(e)),
    }
}
