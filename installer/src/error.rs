//! The installer's error types: one enum per concept, each naming the path or field at fault.

use std::path::PathBuf;

/// Problems with the content of a containerd config file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("parse containerd config {path:?}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("unsupported containerd config version {0} (expected 2, 3 or none)")]
    UnsupportedVersion(String),
    /// A version containerd has but the installer does not write: its layout could not be
    /// checked against containerd's own source, and a handler at a guessed table path would
    /// be ignored by containerd without a word.
    #[error("unsupported containerd config version {version} ({release}): the installer writes versions 2, 3 or none, and refuses version {version} until its CRI runtimes table is confirmed against containerd's own source; add the youki handler to this config by hand, or write it as version 3")]
    UnconfirmedVersion { version: i64, release: &'static str },
    #[error("containerd config field {field:?} is not a table")]
    NotATable { field: String },
    #[error("containerd config field {field:?} has an unexpected type")]
    BadField { field: String },
    #[error("imported file {import:?} defines the CRI plugin section, which replaces the one in {main:?} (containerd 1.x merges imports per plugin); pass --containerd-config {import:?} to add the handler there")]
    ImportedCriSection { import: PathBuf, main: PathBuf },
    #[error("template {path:?} already defines runtime {name:?} outside the installer's block")]
    TemplateConflict { path: PathBuf, name: String },
}

/// Problems touching the host filesystem.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("read {path:?}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write {path:?}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("remove {path:?}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lock {path:?}: another installer holds it")]
    Busy { path: PathBuf },
    #[error("lock {path:?}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no containerd config found under {host_root:?} (tried {tried})")]
    NoConfig { host_root: PathBuf, tried: String },
    #[error("refusing to uninstall: {count} youki container(s) still have state under {root:?}; delete the pods with runtimeClassName youki first, or pass --force")]
    InUse { count: usize, root: PathBuf },
    #[error("{path:?} resolves to {target:?} on a read-only filesystem (a NixOS store or a read-only mount): the installer will not edit it; add the youki handler to the node's own configuration instead")]
    ReadOnly { path: PathBuf, target: PathBuf },
    #[error("{0}")]
    Config(#[from] ConfigError),
}
