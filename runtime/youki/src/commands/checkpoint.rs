//! `checkpoint` and `restore`: runc's flags turned into libcontainer's criu options.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use libcontainer::criu::checkpoint;
use libcontainer::criu::criu_plan::{CgroupMode, CriuOptions, DumpOptions};
use libcontainer::criu::restore::{self, RestoreOptions};
use liboci_cli::{Checkpoint, CriuOpts, GlobalOpts, ManageCgroupsMode, Restore};

fn criu_options(g: &GlobalOpts, c: &CriuOpts, default_images: Option<&Path>) -> Result<CriuOptions> {
    let Some(image_path) = c.image_path.clone().or_else(|| default_images.map(Path::to_path_buf)) else {
        bail!("restore needs --image-path");
    };
    Ok(CriuOptions {
        program: g.criu.clone(),
        image_path,
        work_path: c.work_path.clone(),
        tcp_established: c.tcp_established,
        ext_unix_sk: c.ext_unix_sk,
        shell_job: c.shell_job,
        file_locks: c.file_locks,
        cgroup_mode: match c.manage_cgroups_mode {
            ManageCgroupsMode::Soft => CgroupMode::Soft,
            ManageCgroupsMode::Full => CgroupMode::Full,
            ManageCgroupsMode::Strict => CgroupMode::Strict,
            ManageCgroupsMode::Ignore => CgroupMode::Ignore,
        },
        empty_ns: c.empty_ns.clone(),
        auto_dedup: c.auto_dedup,
        lazy_pages: c.lazy_pages,
    })
}

pub fn checkpoint(g: &GlobalOpts, root: &Path, c: Checkpoint) -> Result<i32> {
    let o = DumpOptions {
        criu: criu_options(g, &c.criu, Some(&PathBuf::from("checkpoint")))?,
        parent_path: c.parent_path,
        leave_running: c.leave_running,
        pre_dump: c.pre_dump,
        tcp_skip_in_flight: c.tcp_skip_in_flight,
        link_remap: c.link_remap,
        page_server: c.page_server,
        status_fd: c.status_fd,
    };
    checkpoint::checkpoint(root, &c.container_id, &o)?;
    Ok(0)
}

pub fn restore(g: &GlobalOpts, root: &Path, r: Restore) -> Result<i32> {
    if r.console_socket.is_some() {
        bail!("restore --console-socket is not supported: youki does not checkpoint containers with a terminal");
    }
    if r.lsm_profile.is_some() || r.lsm_mount_context.is_some() {
        bail!("restore --lsm-profile and --lsm-mount-context are not supported");
    }
    let subreaper = !r.detach && !r.no_subreaper;
    let o = RestoreOptions {
        root,
        id: &r.container_id,
        bundle: &r.bundle,
        criu: criu_options(g, &r.criu, None)?,
        pid_file: r.pid_file.as_deref(),
        systemd_cgroup: g.systemd_cgroup,
        subreaper,
    };
    let pid = restore::restore(&o)?;
    if r.detach {
        return Ok(0);
    }
    Ok(restore::wait_exit(pid, subreaper)?)
}
