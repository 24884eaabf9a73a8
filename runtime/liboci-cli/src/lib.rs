//! runc's command line, flag for flag, as clap structs. No I/O and no logic here.
//!
//! The binary parses and reports errors itself, so that every failure exits 1 as
//! runc does (clap's own `Cli::parse()` would exit 2):
//!
//! ```no_run
//! use liboci_cli::{Cli, Command};
//!
//! let cli = match Cli::try_parse_args(std::env::args_os()) {
//!     Ok(cli) => cli,
//!     Err(err) => {
//!         // help goes to stdout and exits 0; every real error goes to stderr, exits 1
//!         let _ = err.print();
//!         std::process::exit(liboci_cli::exit_code(&err));
//!     }
//! };
//! if cli.version {
//!     // print runtime version, commit and OCI spec version, then exit 0
//! }
//! match cli.command.expect("try_parse_args guarantees a command unless --version") {
//!     Command::Create(args) => { /* args.opts.bundle, args.container_id, ... */ }
//!     _ => {}
//! }
//! ```
//!
//! `Cli::try_parse()` works too, but then a missing command (`youki --debug`) is
//! not an error and `command` is `None`; [`Cli::try_parse_args`] turns that into
//! clap's `MissingSubcommand` error.

mod cgroups_cmds;
mod checkpoint;
mod exec;
mod global;
mod lifecycle;
mod one_command;
mod query;
mod values;

#[cfg(test)]
mod tests;

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub use cgroups_cmds::{Events, OutputFormat, Pause, Ps, Resume, Update};
pub use checkpoint::{Checkpoint, CriuOpts, ManageCgroupsMode, Restore};
pub use exec::Exec;
pub use global::{GlobalOpts, LogFormat, LogLevel, Rootless};
pub use lifecycle::{Create, CreateOpts, Delete, Kill, Run, Start};
pub use query::{Features, Info, List, Spec, State};
pub use values::{parse_bytes, parse_duration};

/// `youki [GLOBAL OPTIONS] COMMAND [OPTIONS] [ARGS]`.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(
    name = "youki",
    about = "An OCI container runtime, command-line compatible with runc",
    disable_version_flag = true,
    arg_required_else_help = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,

    /// Print the runtime version, commit and OCI spec version
    #[arg(short = 'v', long)]
    pub version: bool,

    /// `None` only when `--version` is given (with [`Cli::try_parse_args`])
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Every runc command, plus youki's `info`.
#[derive(Subcommand, Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create a container from a bundle, ready for `start`
    Create(Create),
    /// Start a created container's process
    Start(Start),
    /// Create and start a container
    Run(Run),
    /// Print a container's state as JSON
    State(State),
    /// Send a signal to a container's init (or all) processes
    Kill(Kill),
    /// Release all resources of a container
    Delete(Delete),
    /// List containers
    List(List),
    /// Write a starter config.json
    Spec(Spec),
    /// Print the supported features as JSON
    Features(Features),
    /// Show the processes inside a container
    Ps(Ps),
    /// Run a new process inside a container
    Exec(Exec),
    /// Change a container's resource limits
    Update(Update),
    /// Freeze all processes of a container
    Pause(Pause),
    /// Thaw a paused container
    Resume(Resume),
    /// Stream a container's events and statistics
    Events(Events),
    /// Save a running container with criu
    Checkpoint(Checkpoint),
    /// Restore a container from a checkpoint
    Restore(Restore),
    /// Describe the host as youki sees it
    Info(Info),
}

impl Cli {
    /// Parses argv (program name first) and requires a command unless `--version`
    /// is set. Unknown commands and flags are clap errors; see [`exit_code`].
    pub fn try_parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        if let Some(cli) = one_command::parse(&args) {
            return Ok(cli);
        }
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        let cli = Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))?;
        if cli.command.is_none() && !cli.version {
            return Err(command.error(ErrorKind::MissingSubcommand, "a command is required"));
        }
        Ok(cli)
    }
}

/// The exit status for a parse failure, matching runc: 0 when clap only shows
/// help (`-h`, or no arguments at all), 1 for every real error (unknown command
/// or flag, bad value, missing argument).
pub fn exit_code(err: &clap::Error) -> i32 {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        _ => 1,
    }
}
