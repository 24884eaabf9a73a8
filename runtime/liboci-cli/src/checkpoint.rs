//! `checkpoint` and `restore`: saving a running container to disk with criu and
//! bringing it back.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// criu options that `checkpoint` and `restore` share.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct CriuOpts {
    /// Directory of criu image files (checkpoint: default ./checkpoint)
    #[arg(long, value_name = "PATH")]
    pub image_path: Option<PathBuf>,

    /// Directory for criu work files and logs (default: the image directory)
    #[arg(long, value_name = "PATH")]
    pub work_path: Option<PathBuf>,

    /// Allow established TCP connections
    #[arg(long)]
    pub tcp_established: bool,

    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,

    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,

    /// Handle file locks
    #[arg(long)]
    pub file_locks: bool,

    /// How criu treats cgroups
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ManageCgroupsMode::Soft)]
    pub manage_cgroups_mode: ManageCgroupsMode,

    /// Namespace to create without saving or restoring its properties; repeatable
    #[arg(long, value_name = "NAMESPACE")]
    pub empty_ns: Vec<String>,

    /// Deduplicate memory images automatically
    #[arg(long)]
    pub auto_dedup: bool,

    /// Move memory pages lazily through userfaultfd
    #[arg(long)]
    pub lazy_pages: bool,
}

/// `--manage-cgroups-mode`, passed to criu's --manage-cgroups.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManageCgroupsMode {
    #[default]
    Soft,
    Full,
    Strict,
    Ignore,
}

/// `checkpoint [OPTIONS] ID`: dump the container's processes to image files.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    #[command(flatten)]
    pub criu: CriuOpts,

    /// Images of the previous pre-dump, for an incremental dump
    #[arg(long, value_name = "PATH")]
    pub parent_path: Option<PathBuf>,

    /// Keep the container running after the dump
    #[arg(long)]
    pub leave_running: bool,

    /// Skip in-flight TCP connections
    #[arg(long)]
    pub tcp_skip_in_flight: bool,

    /// Link unlinked files back when possible
    #[arg(long)]
    pub link_remap: bool,

    /// fd that criu writes a zero byte to once the lazy-pages server is ready
    #[arg(long, value_name = "FD")]
    pub status_fd: Option<i32>,

    /// Start a page server at ADDRESS:PORT
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,

    /// Dump memory only and leave the container running
    #[arg(long)]
    pub pre_dump: bool,

    /// The container ID
    pub container_id: String,
}

/// `restore [OPTIONS] ID`: recreate a container from checkpoint images.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Restore {
    #[command(flatten)]
    pub criu: CriuOpts,

    /// Bundle directory of the restored container
    #[arg(short, long, value_name = "PATH", default_value = ".")]
    pub bundle: PathBuf,

    /// AF_UNIX socket that receives the master end of the console's pty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Return once restored instead of waiting for the container
    #[arg(short, long)]
    pub detach: bool,

    /// File to write the restored init's host pid to
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,

    /// Do not become a subreaper for reparented processes
    #[arg(long)]
    pub no_subreaper: bool,

    /// Do not pivot_root into the rootfs
    #[arg(long)]
    pub no_pivot: bool,

    /// LSM profile to restore with, TYPE:LABEL (apparmor or selinux)
    #[arg(long, value_name = "TYPE:LABEL")]
    pub lsm_profile: Option<String>,

    /// LSM mount context replacing the checkpointed one
    #[arg(long, value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,

    /// The container ID
    pub container_id: String,
}
