//! A CRI connection over containerd's unix socket, and one method per kubelet call we make,
//! each with a deadline and the call's name in its error.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};

/// Longer than any call should take here; a hung daemon fails the test instead of CI.
const DEADLINE: Duration = Duration::from_secs(60);
/// How long a containerd's CRI may take to get ready after its socket answers.
const READY: Duration = Duration::from_secs(20);

#[derive(Clone)]
pub struct Cri {
    rt: RuntimeServiceClient<Channel>,
    pub handler: String,
}

/// A failed call as the kubelet sees it: the gRPC status message.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {message}")]
pub struct CallError {
    pub call: &'static str,
    pub message: String,
}

async fn call<T>(name: &'static str, fut: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>) -> Result<T, CallError> {
    match tokio::time::timeout(DEADLINE, fut).await {
        Ok(Ok(resp)) => Ok(resp.into_inner()),
        Ok(Err(status)) => Err(CallError { call: name, message: status.message().to_string() }),
        Err(_) => Err(CallError { call: name, message: format!("no answer within {DEADLINE:?}") }),
    }
}

pub async fn connect(socket: &Path, handler: &str) -> Result<Cri> {
    let path = socket.to_path_buf();
    // The URI is required by tonic and ignored by the connector.
    let channel = Endpoint::try_from("http://containerd.invalid")?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let p = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(tokio::net::UnixStream::connect(p).await?)) }
        }))
        .await
        .with_context(|| format!("connect to containerd at {}", socket.display()))?;
    let mut rt = RuntimeServiceClient::new(channel);
    // A containerd just started answers before its CRI plugin is ready ("server is not
    // initialized yet"): that answer is retried for a while.
    let begun = Instant::now();
    let v = loop {
        match call("Version", rt.version(cri::VersionRequest { version: "v1".into() })).await {
            Err(e) if e.message.contains("not initialized") && begun.elapsed() < READY => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            r => break r?,
        }
    };
    if v.runtime_api_version != "v1" {
        return Err(anyhow!("containerd speaks CRI {:?}, not v1", v.runtime_api_version));
    }
    Ok(Cri { rt, handler: handler.to_string() })
}

/// Runs `f` and returns its result with the wall time it took.
pub async fn timed<T>(f: impl Future<Output = T>) -> (T, Duration) {
    let t = Instant::now();
    let out = f.await;
    (out, t.elapsed())
}

impl Cri {
    pub async fn run_pod(&mut self, config: &cri::PodSandboxConfig) -> Result<String, CallError> {
        let req = cri::RunPodSandboxRequest { config: Some(config.clone()), runtime_handler: self.handler.clone() };
        Ok(call("RunPodSandbox", self.rt.run_pod_sandbox(req)).await?.pod_sandbox_id)
    }

    pub async fn pod_ip(&mut self, pod: &str) -> Result<String, CallError> {
        let s = call(
            "PodSandboxStatus",
            self.rt.pod_sandbox_status(cri::PodSandboxStatusRequest { pod_sandbox_id: pod.into(), verbose: false }),
        )
        .await?;
        Ok(s.status.and_then(|s| s.network).map(|n| n.ip).unwrap_or_default())
    }

    /// The sandbox's verbose info as JSON (its pid, its runtime spec).
    pub async fn pod_info(&mut self, pod: &str) -> Result<serde_json::Value, CallError> {
        let s = call(
            "PodSandboxStatus",
            self.rt.pod_sandbox_status(cri::PodSandboxStatusRequest { pod_sandbox_id: pod.into(), verbose: true }),
        )
        .await?;
        s.info
            .get("info")
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or(CallError { call: "PodSandboxStatus", message: "no verbose info in the answer".into() })
    }

    pub async fn create(&mut self, pod: &str, config: cri::ContainerConfig, sandbox: &cri::PodSandboxConfig) -> Result<String, CallError> {
        let req = cri::CreateContainerRequest { pod_sandbox_id: pod.into(), config: Some(config), sandbox_config: Some(sandbox.clone()) };
        Ok(call("CreateContainer", self.rt.create_container(req)).await?.container_id)
    }

    pub async fn start(&mut self, id: &str) -> Result<(), CallError> {
        call("StartContainer", self.rt.start_container(cri::StartContainerRequest { container_id: id.into() })).await.map(drop)
    }

    pub async fn exec_sync(&mut self, id: &str, cmd: &[&str]) -> Result<cri::ExecSyncResponse, CallError> {
        let req = cri::ExecSyncRequest { container_id: id.into(), cmd: cmd.iter().map(|s| s.to_string()).collect(), timeout: 30 };
        call("ExecSync", self.rt.exec_sync(req)).await
    }

    /// The streaming URL for an interactive exec with a terminal.
    pub async fn exec_tty(&mut self, id: &str, cmd: &[&str]) -> Result<String, CallError> {
        let req = cri::ExecRequest {
            container_id: id.into(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            tty: true,
            stdin: true,
            stdout: true,
            stderr: false,
        };
        Ok(call("Exec", self.rt.exec(req)).await?.url)
    }

    pub async fn update(&mut self, id: &str, resources: cri::LinuxContainerResources) -> Result<(), CallError> {
        let req = cri::UpdateContainerResourcesRequest { container_id: id.into(), linux: Some(resources), ..Default::default() };
        call("UpdateContainerResources", self.rt.update_container_resources(req)).await.map(drop)
    }

    pub async fn stats(&mut self, id: &str) -> Result<cri::ContainerStats, CallError> {
        let s = call("ContainerStats", self.rt.container_stats(cri::ContainerStatsRequest { container_id: id.into() })).await?;
        s.stats.ok_or(CallError { call: "ContainerStats", message: "no stats in the answer".into() })
    }

    /// The status, and the verbose info's JSON (pid, runtime spec) when asked.
    pub async fn status(&mut self, id: &str, verbose: bool) -> Result<(cri::ContainerStatus, Option<serde_json::Value>), CallError> {
        let r = call("ContainerStatus", self.rt.container_status(cri::ContainerStatusRequest { container_id: id.into(), verbose })).await?;
        let info = r.info.get("info").and_then(|s| serde_json::from_str(s).ok());
        let status = r.status.ok_or(CallError { call: "ContainerStatus", message: "no status in the answer".into() })?;
        Ok((status, info))
    }

    pub async fn stop(&mut self, id: &str, timeout_s: i64) -> Result<(), CallError> {
        call("StopContainer", self.rt.stop_container(cri::StopContainerRequest { container_id: id.into(), timeout: timeout_s }))
            .await
            .map(drop)
    }

    pub async fn remove(&mut self, id: &str) -> Result<(), CallError> {
        call("RemoveContainer", self.rt.remove_container(cri::RemoveContainerRequest { container_id: id.into() })).await.map(drop)
    }

    pub async fn stop_pod(&mut self, pod: &str) -> Result<(), CallError> {
        call("StopPodSandbox", self.rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod.into() })).await.map(drop)
    }

    pub async fn remove_pod(&mut self, pod: &str) -> Result<(), CallError> {
        call("RemovePodSandbox", self.rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod.into() })).await.map(drop)
    }

    /// Every sandbox containerd knows, of any state and handler.
    pub async fn sandboxes(&mut self) -> Result<Vec<cri::PodSandbox>, CallError> {
        Ok(call("ListPodSandbox", self.rt.list_pod_sandbox(cri::ListPodSandboxRequest::default())).await?.items)
    }

    /// Every container containerd knows, of any state.
    pub async fn containers(&mut self) -> Result<Vec<cri::Container>, CallError> {
        Ok(call("ListContainers", self.rt.list_containers(cri::ListContainersRequest::default())).await?.containers)
    }

    /// Ids of every container and sandbox containerd still knows, of any state.
    pub async fn leftovers(&mut self) -> Result<Vec<String>, CallError> {
        let c = self.containers().await?;
        let p = self.sandboxes().await?;
        Ok(c.into_iter().map(|c| format!("container {}", c.id)).chain(p.into_iter().map(|p| format!("sandbox {}", p.id))).collect())
    }

    /// Tears a pod down whatever state it is in (the cleanup path of a failed check).
    pub async fn force_remove_pod(&mut self, pod: &str) {
        let _ = self.stop_pod(pod).await;
        let _ = self.remove_pod(pod).await;
    }
}
