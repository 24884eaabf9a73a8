//! Options that apply to every command and, as in runc, come before the command name.
//!
//! All of them except `--rootless` are also accepted after the command (clap's
//! `global = true`). `--rootless` stays top-level only, because `spec` has its own
//! unrelated `--rootless` switch and the two must not collide.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// runc's global options, flattened into [`crate::Cli`].
#[derive(Args, Debug, Clone, PartialEq, Eq)]
#[command(next_help_heading = "Global options")]
pub struct GlobalOpts {
    /// Directory of container state, on tmpfs (default chosen by the binary:
    /// runc uses /run/runc, or $XDG_RUNTIME_DIR/runc when rootless)
    #[arg(long, value_name = "PATH", global = true)]
    pub root: Option<PathBuf>,

    /// Write the runtime's own log to PATH instead of stderr
    #[arg(long, value_name = "PATH", global = true)]
    pub log: Option<PathBuf>,

    /// Format of log lines
    #[arg(long, value_enum, value_name = "FMT", global = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Least severe level that is logged; --debug implies debug
    #[arg(long, value_enum, value_name = "LEVEL", global = true)]
    pub log_level: Option<LogLevel>,

    /// Enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,

    /// Manage cgroups through systemd; cgroupsPath must then read "slice:prefix:name"
    #[arg(long, global = true)]
    pub systemd_cgroup: bool,

    /// Whether to run in rootless mode (must come before the command)
    #[arg(long, value_enum, value_name = "MODE", default_value_t = Rootless::Auto)]
    pub rootless: Rootless,

    /// The criu binary used by checkpoint and restore
    #[arg(long, value_name = "PATH", default_value = "criu", global = true)]
    pub criu: PathBuf,
}

/// `--log-format`: how each log line is written.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines
    #[default]
    Text,
    /// One JSON object per line: {"level":..,"msg":..,"time":..}; containerd reads this
    Json,
}

/// `--log-level`: the least severe message that is still written.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// `--rootless`: force rootless mode on or off, or detect it from the caller's uid.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rootless {
    #[default]
    Auto,
    #[value(name = "true")]
    True,
    #[value(name = "false")]
    False,
}
