//! `exec`: start an additional process inside a running container.

use std::path::PathBuf;

use clap::Args;

/// `exec [OPTIONS] ID [--] COMMAND [ARG...]` or `exec [OPTIONS] -p process.json ID`.
///
/// Once the first word of COMMAND is seen, everything after it belongs to the
/// command, flags included (`exec ID sh -c "echo hi"`).
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    /// Read the whole process (args, env, user, ...) from this OCI process JSON
    #[arg(short, long, value_name = "PATH")]
    pub process: Option<PathBuf>,

    /// Allocate a pseudo-terminal
    #[arg(short, long)]
    pub tty: bool,

    /// AF_UNIX socket that receives the master end of the pty
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,

    /// Working directory inside the container
    #[arg(long, value_name = "PATH")]
    pub cwd: Option<PathBuf>,

    /// Set an environment variable; repeatable
    #[arg(short, long, value_name = "NAME=VALUE")]
    pub env: Vec<String>,

    /// User to run as, UID[:GID]
    #[arg(short, long, value_name = "UID[:GID]")]
    pub user: Option<String>,

    /// Supplementary group id; repeatable
    #[arg(short = 'g', long, value_name = "GID")]
    pub additional_gids: Vec<u32>,

    /// Capability to add to the bounding set, e.g. CAP_NET_ADMIN; repeatable
    #[arg(short, long, value_name = "CAP")]
    pub cap: Vec<String>,

    /// Set no_new_privs for the process
    #[arg(long)]
    pub no_new_privs: bool,

    /// AppArmor profile for the process
    #[arg(long, value_name = "PROFILE")]
    pub apparmor: Option<String>,

    /// SELinux label for the process
    #[arg(long, value_name = "LABEL")]
    pub process_label: Option<String>,

    /// Return once the process has started instead of waiting for it
    #[arg(short, long)]
    pub detach: bool,

    /// File to write the new process's host pid to
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,

    /// Pass N extra fds (after stdio and $LISTEN_FDS) to the process
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,

    /// Allow exec into a paused container
    #[arg(long)]
    pub ignore_paused: bool,

    /// AF_UNIX socket that receives a pidfd of the new process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,

    /// Sub-cgroup to run in, [CONTROLLER[,CONTROLLER]:]PATH; repeatable on cgroup v1
    #[arg(long, value_name = "[CTRL:]PATH")]
    pub cgroup: Vec<String>,

    /// The container ID
    pub container_id: String,

    /// The command and its arguments; required unless --process is given
    #[arg(value_name = "COMMAND", trailing_var_arg = true, allow_hyphen_values = true, required_unless_present = "process")]
    pub command: Vec<String>,
}
