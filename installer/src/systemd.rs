//! `--restart systemd`: RestartUnit on the host's systemd over D-Bus (zbus), then waiting for
//! the job's JobRemoved signal. The bus socket is looked up under the host root, so a pod
//! with the host's / mounted reaches the host's systemd.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use zbus::message::Type;
use zbus::zvariant::OwnedObjectPath;
use zbus::{Connection, MatchRule, MessageStream};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

/// The host's system bus socket. systemd's own /run/systemd/private is not used: it speaks
/// D-Bus peer to peer and never answers the bus Hello, and zbus talks peer to peer only with
/// its `p2p` feature, which the workspace leaves off (libcgroups shares the same zbus).
/// Checked in the systemd VM lane: a connection there waits forever.
pub const BUS_SOCKET: &str = "/run/dbus/system_bus_socket";

/// Problems restarting a unit through systemd.
#[derive(Debug, thiserror::Error)]
pub enum SystemdError {
    #[error("no D-Bus system bus at {socket:?}: the host runs no dbus-daemon (use --restart signal there)")]
    NoBus { socket: PathBuf },
    #[error("connect to systemd over D-Bus at {socket:?}: no answer within {secs}s")]
    ConnectTimeout { socket: PathBuf, secs: u64 },
    #[error("connect to systemd over D-Bus at {socket:?}")]
    Connect {
        socket: PathBuf,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("systemd over D-Bus: {op}")]
    Call {
        op: String,
        #[source]
        source: Box<zbus::Error>,
    },
    #[error("systemd job {job} restarting {unit} ended with result {result:?} (see `journalctl -u {unit}` on the node)")]
    JobFailed { unit: String, job: String, result: String },
    #[error("systemd job {job} restarting {unit} did not finish within {secs}s")]
    JobTimeout { unit: String, job: String, secs: u64 },
}

/// A unit name as systemd's manager wants it: `containerd` means `containerd.service`.
pub fn unit_name(unit: &str) -> String {
    const SUFFIXES: [&str; 4] = [".service", ".socket", ".target", ".scope"];
    if SUFFIXES.iter().any(|s| unit.ends_with(s)) {
        unit.to_string()
    } else {
        format!("{unit}.service")
    }
}

/// A D-Bus address for a unix socket path; bytes outside the unescaped set are %-encoded.
pub fn bus_address(socket: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("unix:path=");
    for &b in socket.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_/.\\*".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The body of a JobRemoved signal: job id, job object path, unit, result.
pub type JobRemoved = (u32, OwnedObjectPath, String, String);

/// What one JobRemoved signal says about our `job`: None when it is about another job,
/// else Ok for "done" and the error naming the result ("failed", "timeout", "canceled",
/// "dependency", "skipped") otherwise.
pub fn job_outcome(unit: &str, job: &str, signal: &JobRemoved) -> Option<Result<(), SystemdError>> {
    let (_, path, _, result) = signal;
    if path.as_str() != job {
        return None;
    }
    Some(if result == "done" {
        Ok(())
    } else {
        Err(SystemdError::JobFailed { unit: unit.to_string(), job: job.to_string(), result: result.clone() })
    })
}

fn call_err(op: impl Into<String>) -> impl FnOnce(zbus::Error) -> SystemdError {
    let op = op.into();
    move |source| SystemdError::Call { op, source: Box::new(source) }
}

/// Connects to the host's system bus, giving up after `timeout`.
async fn connect(host_root: &Path, timeout: Duration) -> Result<Connection, SystemdError> {
    let socket = crate::fsutil::under(host_root, Path::new(BUS_SOCKET));
    if !socket.exists() {
        return Err(SystemdError::NoBus { socket });
    }
    let build = async { zbus::connection::Builder::address(bus_address(&socket).as_str())?.build().await };
    match tokio::time::timeout(timeout, build).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(source)) => Err(SystemdError::Connect { socket, source: Box::new(source) }),
        Err(_) => Err(SystemdError::ConnectTimeout { socket, secs: timeout.as_secs() }),
    }
}

/// Restarts `unit` (RestartUnit, mode "replace") and waits up to `timeout` for its job to
/// be removed; only the result "done" is a success. The connection gets `timeout` too.
pub async fn restart_unit(host_root: &Path, unit: &str, timeout: Duration) -> Result<(), SystemdError> {
    let unit = unit_name(unit);
    let conn = connect(host_root, timeout).await?;
    // systemd sends job signals only to subscribed clients; subscribe and listen before
    // the job exists, so its end cannot be missed.
    conn.call_method(Some(DEST), PATH, Some(MANAGER), "Subscribe", &()).await.map_err(call_err("Subscribe"))?;
    let rule = MatchRule::builder()
        .msg_type(Type::Signal)
        .sender(DEST)
        .and_then(|b| b.path(PATH))
        .and_then(|b| b.interface(MANAGER))
        .and_then(|b| b.member("JobRemoved"))
        .map_err(call_err("match JobRemoved"))?
        .build();
    let mut signals = MessageStream::for_match_rule(rule, &conn, None).await.map_err(call_err("listen for JobRemoved"))?;
    let reply = conn
        .call_method(Some(DEST), PATH, Some(MANAGER), "RestartUnit", &(unit.as_str(), "replace"))
        .await
        .map_err(call_err(format!("RestartUnit {unit}")))?;
    let job: OwnedObjectPath = reply.body().deserialize().map_err(call_err(format!("read the job of RestartUnit {unit}")))?;
    let wait = async {
        while let Some(msg) = signals.next().await {
            let msg = msg.map_err(call_err("read JobRemoved"))?;
            let Ok(signal) = msg.body().deserialize::<JobRemoved>() else {
                continue;
            };
            if let Some(outcome) = job_outcome(&unit, job.as_str(), &signal) {
                return outcome;
            }
        }
        Err(SystemdError::Call {
            op: "wait for JobRemoved".to_string(),
            source: Box::new(zbus::Error::InputOutput(std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the bus connection closed",
            )))),
        })
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(outcome) => outcome,
        Err(_) => Err(SystemdError::JobTimeout { unit, job: job.to_string(), secs: timeout.as_secs() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(job: &str, result: &str) -> JobRemoved {
        (7, OwnedObjectPath::try_from(job).expect("path"), "containerd.service".to_string(), result.to_string())
    }

    #[test]
    fn only_our_job_counts_and_only_done_succeeds() {
        let ours = "/org/freedesktop/systemd1/job/42";
        let other = signal("/org/freedesktop/systemd1/job/41", "done");
        assert!(job_outcome("containerd.service", ours, &other).is_none());
        assert!(matches!(job_outcome("containerd.service", ours, &signal(ours, "done")), Some(Ok(()))));
        for bad in ["failed", "timeout", "canceled", "dependency", "skipped"] {
            let err = job_outcome("containerd.service", ours, &signal(ours, bad)).expect("our job").expect_err("not done");
            assert_eq!(
                err.to_string(),
                format!("systemd job {ours} restarting containerd.service ended with result \"{bad}\" (see `journalctl -u containerd.service` on the node)")
            );
        }
    }

    #[test]
    fn unit_names_get_a_service_suffix_once() {
        assert_eq!(unit_name("containerd"), "containerd.service");
        assert_eq!(unit_name("k3s-agent.service"), "k3s-agent.service");
        assert_eq!(unit_name("crio.socket"), "crio.socket");
    }

    #[test]
    fn bus_addresses_escape_odd_bytes() {
        assert_eq!(bus_address(Path::new("/host/run/dbus/system_bus_socket")), "unix:path=/host/run/dbus/system_bus_socket");
        assert_eq!(bus_address(Path::new("/tmp/a b;c")), "unix:path=/tmp/a%20b%3bc");
    }
}
