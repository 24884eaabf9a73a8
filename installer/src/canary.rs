//! The canary: one tiny pod run through the container manager's CRI with the `youki` handler,
//! as the kubelet would run it, to prove that a freshly placed binary really starts
//! containers before the node is labelled ready.
//!
//! The pod is a sandbox on the node's network (no CNI needed), so its pause process is
//! created and started by youki; when an image is known (`--canary-image`, else the
//! manager's sandbox image, which every node holds) a container of that image runs in it
//! too. The pod is stopped and removed whatever happens, and a pod left by a canary that
//! died half way (labelled `app=youki-canary`) is removed first.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::Channel;

/// The label that marks the canary's pods.
pub const CANARY_LABEL: (&str, &str) = ("app", "youki-canary");
/// The namespace named in the canary pod's metadata (the chart's).
pub const CANARY_NAMESPACE: &str = "youki-system";

/// What the canary runs.
#[derive(Debug, Clone)]
pub struct CanaryConfig {
    /// The runtime handler under test.
    pub handler: String,
    /// The container's image; None: the manager's sandbox image, else the sandbox only.
    pub image: Option<String>,
    /// The pod's cgroup parent, as the kubelet would pass it; empty: the runtime's default.
    pub cgroup_parent: String,
    /// How long the whole canary may take.
    pub timeout: Duration,
}

/// A canary that failed: the CRI step and the manager's answer.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("start the runtime for the canary")]
    Runtime(#[source] std::io::Error),
    #[error("canary {step} with runtime handler {handler:?} at {socket:?}: {message}")]
    Step { step: &'static str, handler: String, socket: PathBuf, message: String },
    #[error("canary with runtime handler {handler:?} at {socket:?} did not finish within {secs}s")]
    Timeout { handler: String, socket: PathBuf, secs: u64 },
}

/// What a canary that passed ran, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// The image of the container run in the pod; None: the sandbox only.
    pub image: Option<String>,
}

struct Clients {
    rt: RuntimeServiceClient<Channel>,
    img: ImageServiceClient<Channel>,
}

async fn connect(socket: &Path) -> Result<Clients, String> {
    let channel = crate::cri::channel(socket).await?;
    Ok(Clients { rt: RuntimeServiceClient::new(channel.clone()), img: ImageServiceClient::new(channel) })
}

/// The node's network, a pid namespace per container, the pod's IPC.
fn namespaces() -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: cri::NamespaceMode::Node as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// The canary pod's sandbox config: the node's network, its own pid namespace, a fresh uid.
pub fn sandbox_config(uid: &str, cgroup_parent: &str) -> cri::PodSandboxConfig {
    let namespaces = namespaces();
    cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "youki-canary".into(),
            uid: uid.into(),
            namespace: CANARY_NAMESPACE.into(),
            attempt: 0,
        }),
        labels: HashMap::from([(CANARY_LABEL.0.to_string(), CANARY_LABEL.1.to_string())]),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.into(),
            security_context: Some(cri::LinuxSandboxSecurityContext { namespace_options: Some(namespaces), ..Default::default() }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The canary container: the image's own entrypoint, no logs, the pod's namespaces.
pub fn container_config(image: &str) -> cri::ContainerConfig {
    let namespaces = namespaces();
    cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata { name: "canary".into(), attempt: 0 }),
        image: Some(cri::ImageSpec { image: image.into(), ..Default::default() }),
        labels: HashMap::from([(CANARY_LABEL.0.to_string(), CANARY_LABEL.1.to_string())]),
        linux: Some(cri::LinuxContainerConfig {
            resources: None,
            security_context: Some(cri::LinuxContainerSecurityContext { namespace_options: Some(namespaces), ..Default::default() }),
        }),
        ..Default::default()
    }
}

/// The manager's sandbox (pause) image: containerd 1.6 and 1.7 name it in the verbose
/// Status config (`sandboxImage`); 2.x pins it, so it is the pinned image in ListImages.
pub fn sandbox_image_in(status: &cri::StatusResponse, images: &[cri::Image]) -> Option<String> {
    let from_config = status
        .info
        .get("config")
        .and_then(|c| serde_json::from_str::<serde_json::Value>(c).ok())
        .and_then(|c| c.get("sandboxImage").and_then(|s| s.as_str()).map(str::to_string))
        .filter(|s| !s.is_empty());
    from_config.or_else(|| images.iter().filter(|i| i.pinned).find_map(|i| i.repo_tags.first().cloned()))
}

/// Whether a container the canary started did its job: still running, or done with exit 0.
pub fn container_ok(status: &cri::ContainerStatus) -> Result<(), String> {
    match cri::ContainerState::try_from(status.state) {
        Ok(cri::ContainerState::ContainerRunning) => Ok(()),
        Ok(cri::ContainerState::ContainerExited) if status.exit_code == 0 => Ok(()),
        Ok(state) => Err(format!(
            "container is {} (exit code {}, reason {:?}, message {:?})",
            state.as_str_name(),
            status.exit_code,
            status.reason,
            status.message
        )),
        Err(_) => Err(format!("container in unknown state {}", status.state)),
    }
}

fn random_uid() -> String {
    use std::io::Read;
    let mut buf = [0u8; 8];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs the canary on the manager's CRI at `socket`; every step is bounded by the
/// config's timeout as a whole.
pub fn run(socket: &Path, config: &CanaryConfig) -> Result<Ran, CanaryError> {
    let rt = crate::runtime().map_err(CanaryError::Runtime)?;
    let fail = |step: &'static str| {
        let (handler, socket) = (config.handler.clone(), socket.to_path_buf());
        move |message: String| CanaryError::Step { step, handler, socket, message }
    };
    let timed_out =
        || CanaryError::Timeout { handler: config.handler.clone(), socket: socket.to_path_buf(), secs: config.timeout.as_secs() };
    rt.block_on(async {
        match tokio::time::timeout(config.timeout, walk(socket, config, &fail)).await {
            Ok(r) => r,
            Err(_) => Err(timed_out()),
        }
    })
}

async fn walk<F, E>(socket: &Path, config: &CanaryConfig, fail: &F) -> Result<Ran, CanaryError>
where
    F: Fn(&'static str) -> E,
    E: FnOnce(String) -> CanaryError,
{
    let mut c = connect(socket).await.map_err(fail("connect"))?;
    remove_leftovers(&mut c).await;
    let image = match &config.image {
        Some(i) => Some(i.clone()),
        None => {
            let status = c.rt.status(cri::StatusRequest { verbose: true }).await.map(tonic::Response::into_inner).ok();
            let images = c.img.list_images(cri::ListImagesRequest::default()).await.map(|r| r.into_inner().images).unwrap_or_default();
            status.and_then(|s| sandbox_image_in(&s, &images))
        }
    };
    let sandbox = sandbox_config(&random_uid(), &config.cgroup_parent);
    let req = cri::RunPodSandboxRequest { config: Some(sandbox.clone()), runtime_handler: config.handler.clone() };
    let pod_id = c.rt.run_pod_sandbox(req).await.map_err(|s| fail("RunPodSandbox")(s.message().to_string()))?.into_inner().pod_sandbox_id;
    let walked = match &image {
        Some(image) => in_pod(&mut c, &pod_id, &sandbox, image, fail).await,
        None => Ok(()),
    };
    let removed = remove_pod(&mut c, &pod_id).await;
    walked?;
    removed.map_err(fail("StopPodSandbox and RemovePodSandbox"))?;
    Ok(Ran { image })
}

async fn in_pod<F, E>(c: &mut Clients, pod_id: &str, sandbox: &cri::PodSandboxConfig, image: &str, fail: &F) -> Result<(), CanaryError>
where
    F: Fn(&'static str) -> E,
    E: FnOnce(String) -> CanaryError,
{
    let req = cri::CreateContainerRequest {
        pod_sandbox_id: pod_id.into(),
        config: Some(container_config(image)),
        sandbox_config: Some(sandbox.clone()),
    };
    let id = c.rt.create_container(req).await.map_err(|s| fail("CreateContainer")(s.message().to_string()))?.into_inner().container_id;
    c.rt.start_container(cri::StartContainerRequest { container_id: id.clone() })
        .await
        .map_err(|s| fail("StartContainer")(s.message().to_string()))?;
    let status =
        c.rt.container_status(cri::ContainerStatusRequest { container_id: id.clone(), verbose: false })
            .await
            .map_err(|s| fail("ContainerStatus")(s.message().to_string()))?
            .into_inner()
            .status
            .ok_or_else(|| fail("ContainerStatus")("no status in the answer".to_string()))?;
    container_ok(&status).map_err(fail("ContainerStatus"))?;
    c.rt.stop_container(cri::StopContainerRequest { container_id: id.clone(), timeout: 0 })
        .await
        .map_err(|s| fail("StopContainer")(s.message().to_string()))?;
    c.rt.remove_container(cri::RemoveContainerRequest { container_id: id })
        .await
        .map_err(|s| fail("RemoveContainer")(s.message().to_string()))?;
    Ok(())
}

/// Stops and removes a pod (and so its containers).
async fn remove_pod(c: &mut Clients, pod_id: &str) -> Result<(), String> {
    c.rt.stop_pod_sandbox(cri::StopPodSandboxRequest { pod_sandbox_id: pod_id.into() }).await.map_err(|s| s.message().to_string())?;
    c.rt.remove_pod_sandbox(cri::RemovePodSandboxRequest { pod_sandbox_id: pod_id.into() }).await.map_err(|s| s.message().to_string())?;
    Ok(())
}

/// Removes the pods of an earlier canary that died before its cleanup.
async fn remove_leftovers(c: &mut Clients) {
    let filter = cri::PodSandboxFilter {
        label_selector: HashMap::from([(CANARY_LABEL.0.to_string(), CANARY_LABEL.1.to_string())]),
        ..Default::default()
    };
    let Ok(list) = c.rt.list_pod_sandbox(cri::ListPodSandboxRequest { filter: Some(filter) }).await else {
        return;
    };
    for pod in list.into_inner().items {
        if let Err(e) = remove_pod(c, &pod.id).await {
            eprintln!("remove the earlier canary pod {}: {e}", pod.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_image_comes_from_the_1_6_config_else_the_pinned_image() {
        let config = r#"{"sandboxImage":"registry.k8s.io/pause:3.6","containerd":{}}"#;
        let status = cri::StatusResponse { info: [("config".to_string(), config.to_string())].into(), ..Default::default() };
        let pinned = cri::Image { repo_tags: vec!["registry.k8s.io/pause:3.10".into()], pinned: true, ..Default::default() };
        let other = cri::Image { repo_tags: vec!["busybox:1".into()], ..Default::default() };
        assert_eq!(sandbox_image_in(&status, &[]).as_deref(), Some("registry.k8s.io/pause:3.6"));
        let none = cri::StatusResponse::default();
        assert_eq!(sandbox_image_in(&none, &[other.clone(), pinned]).as_deref(), Some("registry.k8s.io/pause:3.10"));
        assert_eq!(sandbox_image_in(&none, &[other]), None);
    }

    #[test]
    fn a_container_passes_running_or_done_with_exit_0() {
        let running = cri::ContainerStatus { state: cri::ContainerState::ContainerRunning as i32, ..Default::default() };
        let done = cri::ContainerStatus { state: cri::ContainerState::ContainerExited as i32, ..Default::default() };
        let failed = cri::ContainerStatus { state: cri::ContainerState::ContainerExited as i32, exit_code: 1, ..Default::default() };
        assert!(container_ok(&running).is_ok());
        assert!(container_ok(&done).is_ok());
        assert_eq!(container_ok(&failed).unwrap_err(), "container is CONTAINER_EXITED (exit code 1, reason \"\", message \"\")");
    }

    #[test]
    fn the_canary_pod_is_on_the_node_network_and_labelled() {
        let s = sandbox_config("u1", "/kubepods/pod-u1");
        let ns = s.linux.as_ref().and_then(|l| l.security_context.as_ref()).and_then(|c| c.namespace_options.as_ref());
        assert_eq!(ns.map(|n| n.network), Some(cri::NamespaceMode::Node as i32));
        assert_eq!(s.labels.get("app").map(String::as_str), Some("youki-canary"));
        assert_eq!(s.linux.as_ref().map(|l| l.cgroup_parent.as_str()), Some("/kubepods/pod-u1"));
    }
}
