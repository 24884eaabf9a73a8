//! youki-installer: puts youki on a Kubernetes node and takes it off again, leaving the node
//! as it was found. The config editing is pure (text in, text out); the host side (files,
//! locks, restarts, the node label) is kept in its own modules.

pub mod canary;
pub mod config;
pub mod cri;
pub mod diff;
pub mod drift;
pub mod error;
pub mod features;
pub mod fsutil;
pub mod handler;
pub mod health;
pub mod hostfs;
pub mod kube_api;
pub mod labels;
pub mod ledger;
pub mod locate;
pub mod lock;
pub mod node;
pub mod restart;
pub mod rollout;
pub mod schema;
pub mod systemd;

/// A single-threaded async runtime with timers and I/O, on which the installer blocks for its
/// few network calls (the Kubernetes API, systemd's D-Bus, the CRI).
pub fn runtime() -> Result<tokio::runtime::Runtime, std::io::Error> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()
}
