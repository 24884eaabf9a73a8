//! Asking the container manager, through its CRI API, which runtime handlers it knows: after
//! a restart the installer checks that `youki` is there (install) or gone (uninstall).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

/// Problems asking the CRI.
#[derive(Debug, thiserror::Error)]
pub enum CriError {
    #[error("start the runtime for the CRI calls")]
    Runtime(#[source] std::io::Error),
    #[error("CRI at {socket:?} did not answer within {secs}s: {last}")]
    NoAnswer { socket: PathBuf, secs: u64, last: String },
    #[error("CRI at {socket:?} does not know the runtime handler {handler:?} after the restart (it knows: {})", known.join(", "))]
    Missing { socket: PathBuf, handler: String, known: Vec<String> },
    #[error("CRI at {socket:?} still knows the runtime handler {handler:?} after the restart")]
    StillThere { socket: PathBuf, handler: String },
}

/// The handler names a CRI Status answer lists: its `runtime_handlers` (CRI 1.30+, containerd
/// 2.x) or else, with verbose info, the runtimes of containerd's CRI config (1.6, 1.7).
/// None when the answer says neither (CRI-O, for example).
pub fn handlers_in(status: &cri::StatusResponse) -> Option<Vec<String>> {
    if !status.runtime_handlers.is_empty() {
        let mut names: Vec<String> = status.runtime_handlers.iter().map(|h| h.name.clone()).collect();
        names.sort();
        return Some(names);
    }
    let config: serde_json::Value = serde_json::from_str(status.info.get("config")?).ok()?;
    let runtimes = config.get("containerd")?.get("runtimes")?.as_object()?;
    let mut names: Vec<String> = runtimes.keys().cloned().collect();
    names.sort();
    Some(names)
}

/// A gRPC channel to the CRI server on the unix socket `socket`.
pub(crate) async fn channel(socket: &Path) -> Result<Channel, String> {
    let path = socket.to_path_buf();
    // tonic wants a URI; the connector ignores it.
    Endpoint::from_static("http://cri.invalid")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let p = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?)) }
        }))
        .await
        .map_err(|e| format!("connect: {e}"))
}

/// One verbose CRI Status call on the unix socket `socket`.
async fn status(socket: &Path) -> Result<cri::StatusResponse, String> {
    let mut client = RuntimeServiceClient::new(channel(socket).await?);
    client
        .status(cri::StatusRequest { verbose: true })
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("Status: {}", s.message()))
}

/// What the check found.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The handler is (`true`) or is not (`false`) known, as wanted.
    AsWanted,
    /// The manager answers but does not list its handlers (CRI-O): nothing to compare.
    CannotTell,
}

/// Asks the CRI on `socket` until it answers and lists `handler` (`wanted`) or not, or
/// `timeout` passes: right after a restart the CRI plugin may still be loading.
pub fn check_handler(socket: &Path, handler: &str, wanted: bool, timeout: Duration) -> Result<Verdict, CriError> {
    let rt = crate::runtime().map_err(CriError::Runtime)?;
    let start = Instant::now();
    loop {
        let last = match rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), status(socket)).await }) {
            Ok(Ok(s)) => match handlers_in(&s) {
                None => return Ok(Verdict::CannotTell),
                Some(known) if known.iter().any(|h| h == handler) == wanted => return Ok(Verdict::AsWanted),
                Some(known) if start.elapsed() >= timeout => {
                    return Err(if wanted {
                        CriError::Missing { socket: socket.to_path_buf(), handler: handler.to_string(), known }
                    } else {
                        CriError::StillThere { socket: socket.to_path_buf(), handler: handler.to_string() }
                    });
                }
                Some(_) => String::new(),
            },
            Ok(Err(e)) => e,
            Err(_) => "Status: no answer within 10s".to_string(),
        };
        if start.elapsed() >= timeout {
            return Err(CriError::NoAnswer { socket: socket.to_path_buf(), secs: timeout.as_secs(), last });
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containerd_1_6_lists_its_runtimes_in_the_verbose_config() {
        // Trimmed from a real containerd 1.6 answer.
        let config = r#"{"containerd":{"snapshotter":"overlayfs","defaultRuntimeName":"runc",
            "runtimes":{"runc":{"runtimeType":"io.containerd.runc.v2"},
                        "youki":{"runtimeType":"io.containerd.runc.v2","podAnnotations":["io.youki.traceparent"]}}},
            "cni":{"binDir":"/opt/cni/bin"}}"#;
        let status = cri::StatusResponse { info: [("config".to_string(), config.to_string())].into(), ..Default::default() };
        assert_eq!(handlers_in(&status), Some(vec!["runc".into(), "youki".into()]));
    }

    #[test]
    fn runtime_handlers_win_and_no_information_is_none() {
        let status = cri::StatusResponse {
            runtime_handlers: vec![cri::RuntimeHandler { name: "youki".into(), features: None }],
            ..Default::default()
        };
        assert_eq!(handlers_in(&status), Some(vec!["youki".into()]));
        assert_eq!(handlers_in(&cri::StatusResponse::default()), None);
        let odd = cri::StatusResponse { info: [("config".to_string(), "{\"x\":1}".to_string())].into(), ..Default::default() };
        assert_eq!(handlers_in(&odd), None);
    }
}
