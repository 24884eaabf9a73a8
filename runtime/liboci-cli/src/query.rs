//! Commands that report without changing anything (state, list, features, info),
//! and `spec`, which writes a starter config.json.

use std::path::PathBuf;

use clap::Args;

use crate::cgroups_cmds::OutputFormat;

/// `state ID`: print the OCI state JSON.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The container ID
    pub container_id: String,
}

/// `list [--format table|json] [--quiet]`: the containers under --root.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// table: ID PID STATUS BUNDLE CREATED OWNER; json: one object per container
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// Print container IDs only
    #[arg(short, long)]
    pub quiet: bool,
}

/// `features`: print the runtime's supported features as JSON.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Features {}

/// `info` (youki only): describe the host as the runtime sees it.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Info {}

/// `spec [--bundle PATH] [--rootless]`: write a starter config.json.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Directory to write config.json into
    #[arg(short, long, value_name = "PATH", default_value = ".")]
    pub bundle: PathBuf,

    /// Generate a rootless config (unrelated to the global --rootless)
    #[arg(long)]
    pub rootless: bool,
}
