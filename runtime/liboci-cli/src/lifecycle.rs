//! Commands that move a container through its life: create, start, run, kill, delete.

use std::path::PathBuf;

use clap::Args;

/// Options shared by `create` and `run`: where the bundle is and how the init
/// process is set up.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct CreateOpts {
    /// Bundle directory, holding config.json and the root filesystem
    #[arg(short, long, value_name = "PATH", default_value = ".")]
    pub bundle: PathBuf,

    /// AF_UNIX socket that receives the master end of the console's pty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// File to write the container init's host pid to
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,

    /// Do not pivot_root into the rootfs (unsafe; for ramdisk roots)
    #[arg(long)]
    pub no_pivot: bool,

    /// Keep the caller's session keyring instead of creating a new one
    #[arg(long)]
    pub no_new_keyring: bool,

    /// Pass N extra fds (after stdio and $LISTEN_FDS) into the container
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,

    /// AF_UNIX socket that receives a pidfd of the container's init process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
}

/// `create [OPTIONS] ID`: set up the container and leave it waiting for `start`.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Create {
    #[command(flatten)]
    pub opts: CreateOpts,

    /// The container ID
    pub container_id: String,
}

/// `start ID`: run the user process of a created container.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// The container ID
    pub container_id: String,
}

/// `run [OPTIONS] ID`: `create` followed by `start`, by default waiting for the exit.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Run {
    #[command(flatten)]
    pub opts: CreateOpts,

    /// Return once the container has started instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,

    /// Keep the state directory and cgroup after the container exits
    #[arg(long)]
    pub keep: bool,

    /// Do not become a subreaper for reparented processes
    #[arg(long)]
    pub no_subreaper: bool,

    /// The container ID
    pub container_id: String,
}

/// `kill [--all] ID [SIGNAL]`: signal the init process, or every process.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Kill {
    /// Signal all processes in the container, not only init
    #[arg(short, long)]
    pub all: bool,

    /// The container ID
    pub container_id: String,

    /// Signal name with or without the SIG prefix (KILL, SIGKILL) or its number (9);
    /// the binary converts it
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

/// `delete [--force] ID`: release everything the container holds.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// Kill a running container with SIGKILL first; an unknown ID is not an error
    #[arg(short, long)]
    pub force: bool,

    /// The container ID
    pub container_id: String,
}
