//! Commands that act on the container's cgroup: update, pause, resume, ps, events.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::values::{parse_bytes, parse_duration};

/// `update [OPTIONS] ID` or `update -r FILE|- ID`: change resource limits in place.
///
/// Every limit is `None` when not given. Byte sizes accept runc's suffixes
/// (`512m`, `1g`); `-1` means unlimited where runc allows it.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Update {
    /// Read a JSON LinuxResources from FILE, or from stdin with "-"; other limit
    /// flags are then ignored, and so are device rules in the JSON
    #[arg(short, long, value_name = "FILE|-")]
    pub resources: Option<PathBuf>,

    /// Block IO weight, 10 to 1000
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,

    /// CFS period in microseconds (0: system default)
    #[arg(long, value_name = "USEC")]
    pub cpu_period: Option<u64>,

    /// CFS quota in microseconds per period (-1: unlimited)
    #[arg(long, value_name = "USEC", allow_negative_numbers = true)]
    pub cpu_quota: Option<i64>,

    /// CFS burst in microseconds per period
    #[arg(long, value_name = "USEC")]
    pub cpu_burst: Option<u64>,

    /// Realtime period in microseconds
    #[arg(long, value_name = "USEC")]
    pub cpu_rt_period: Option<u64>,

    /// Realtime runtime in microseconds per period
    #[arg(long, value_name = "USEC", allow_negative_numbers = true)]
    pub cpu_rt_runtime: Option<i64>,

    /// CPU shares, a weight relative to other containers
    #[arg(long, value_name = "SHARES")]
    pub cpu_share: Option<u64>,

    /// CPUs to run on, e.g. 0-3,7
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,

    /// Memory nodes to use, same format as --cpuset-cpus
    #[arg(long, value_name = "LIST")]
    pub cpuset_mems: Option<String>,

    /// Memory limit in bytes
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, allow_negative_numbers = true)]
    pub memory: Option<i64>,

    /// Memory soft limit in bytes
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, allow_negative_numbers = true)]
    pub memory_reservation: Option<i64>,

    /// Memory plus swap limit in bytes (-1: unlimited swap)
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, allow_negative_numbers = true)]
    pub memory_swap: Option<i64>,

    /// Maximum number of pids (-1: unlimited)
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pids_limit: Option<i64>,

    /// Intel RDT/CAT L3 cache schema
    #[arg(long, value_name = "SCHEMA")]
    pub l3_cache_schema: Option<String>,

    /// Intel RDT/MBA memory bandwidth schema
    #[arg(long, value_name = "SCHEMA")]
    pub mem_bw_schema: Option<String>,

    /// The container ID
    pub container_id: String,
}

/// `pause ID`: freeze every process of the container.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// The container ID
    pub container_id: String,
}

/// `resume ID`: thaw a paused container.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The container ID
    pub container_id: String,
}

/// Output format of `ps` and `list`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// `ps [--format table|json] ID [PS_ARGS...]`: the container's processes (host pids).
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Ps {
    /// table runs ps(1) and keeps the container's rows; json prints an array of pids
    /// and ignores PS_ARGS
    #[arg(short, long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,

    /// The container ID
    pub container_id: String,

    /// Options handed to ps(1), e.g. -ef
    #[arg(value_name = "PS_ARGS", trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_options: Vec<String>,
}

/// `events [--stats] [--interval D] ID`: stream OOM events and periodic statistics.
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct Events {
    /// Print statistics once and exit
    #[arg(long)]
    pub stats: bool,

    /// Time between statistics, Go syntax (5s, 500ms, 1m)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub interval: Duration,

    /// The container ID
    pub container_id: String,
}
