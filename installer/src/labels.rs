//! The node label that lets pods with `runtimeClassName: youki` schedule, and the label the
//! chart's pre-delete hook sets to ask for a full uninstall.
//!
//! The API itself is behind the `NodeApi` trait: `kube_api::KubeNodes` in the installer, an
//! in-memory fake in the unit tests below.

/// Set to `ready` once the runtime answers on this node, or `unsupported` when the node's
/// config cannot be edited (the reason is in a node Event).
pub const READY_LABEL: &str = "youki.dev/runtime";
/// The `READY_LABEL` value of a node the installer cannot set up.
pub const UNSUPPORTED: &str = "unsupported";
/// Set to `requested` by the chart's pre-delete hook: uninstall fully on this node.
pub const UNINSTALL_LABEL: &str = "youki.dev/uninstall";

/// Problems talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("start the runtime for the Kubernetes API")]
    Runtime(#[source] std::io::Error),
    #[error("no Kubernetes API config: neither KUBECONFIG (or ~/.kube/config) nor the pod's service account")]
    Config(#[source] Box<kube::config::InferConfigError>),
    #[error("make the Kubernetes client")]
    Client(#[source] Box<kube::Error>),
    #[error("{op}: the API server answered {code} {reason}: {message}")]
    Refused { op: String, code: u16, reason: String, message: String },
    #[error("{op}: no answer from the API server")]
    Request {
        op: String,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{op}: no answer from the API server within {secs}s")]
    Timeout { op: String, secs: u64 },
}

/// The node API the installer needs; a trait so `run` can be tested without a cluster.
pub trait NodeApi {
    /// Sets (`Some`) or removes (`None`) a label on the node.
    fn set_label(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), LabelError>;
    /// Reads a label of the node.
    fn label(&self, node: &str, key: &str) -> Result<Option<String>, LabelError>;
    /// Names of the nodes that carry `key` (any value); all nodes when `key` is None.
    fn nodes(&self, key: Option<&str>) -> Result<Vec<String>, LabelError>;
    /// Sets and removes several labels at once (`None` removes).
    fn set_labels(&self, node: &str, labels: &std::collections::BTreeMap<String, Option<String>>) -> Result<(), LabelError> {
        for (k, v) in labels {
            self.set_label(node, k, v.as_deref())?;
        }
        Ok(())
    }
    /// Records a Warning event about the node (shown by `kubectl describe node`).
    fn record_event(&self, node: &str, reason: &str, message: &str) -> Result<(), LabelError>;
}

/// The chart's pre-delete hook: ask every node to uninstall, and wait until each node that
/// was labelled ready has cleared the request (its installer does that only after a complete
/// uninstall) or `timeout` passes. Then withdraw the request everywhere, so nodes without an
/// installer are not left labelled and installers that had to defer go back to ready.
/// Returns the nodes that did not finish.
pub fn cleanup(api: &dyn NodeApi, timeout: std::time::Duration, poll: std::time::Duration) -> Result<Vec<String>, LabelError> {
    let installed = api.nodes(Some(READY_LABEL))?;
    for node in api.nodes(None)? {
        api.set_label(&node, UNINSTALL_LABEL, Some("requested"))?;
    }
    let start = std::time::Instant::now();
    let pending = |api: &dyn NodeApi| -> Result<Vec<String>, LabelError> {
        let requested = api.nodes(Some(UNINSTALL_LABEL))?;
        Ok(installed.iter().filter(|n| requested.contains(n)).cloned().collect())
    };
    let mut left = pending(api)?;
    while !left.is_empty() && start.elapsed() < timeout {
        std::thread::sleep(poll);
        left = pending(api)?;
    }
    for node in api.nodes(Some(UNINSTALL_LABEL))? {
        api.set_label(&node, UNINSTALL_LABEL, None)?;
    }
    Ok(left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;
    use std::time::Duration;

    /// An in-memory API server: node name -> labels. A node labelled ready has an installer,
    /// which on the next read answers an uninstall request by dropping both labels.
    struct FakeApi {
        nodes: RefCell<BTreeMap<String, BTreeMap<String, String>>>,
    }

    impl NodeApi for FakeApi {
        fn set_label(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), LabelError> {
            let mut nodes = self.nodes.borrow_mut();
            let labels = nodes.entry(node.to_string()).or_default();
            match value {
                Some(v) => labels.insert(key.to_string(), v.to_string()),
                None => labels.remove(key),
            };
            Ok(())
        }
        fn label(&self, node: &str, key: &str) -> Result<Option<String>, LabelError> {
            Ok(self.nodes.borrow().get(node).and_then(|l| l.get(key).cloned()))
        }
        fn nodes(&self, key: Option<&str>) -> Result<Vec<String>, LabelError> {
            let mut nodes = self.nodes.borrow_mut();
            for labels in nodes.values_mut() {
                if labels.contains_key(UNINSTALL_LABEL) && labels.contains_key(READY_LABEL) {
                    labels.remove(READY_LABEL);
                    labels.remove(UNINSTALL_LABEL);
                }
            }
            Ok(nodes.iter().filter(|(_, l)| key.map(|k| l.contains_key(k)).unwrap_or(true)).map(|(n, _)| n.clone()).collect())
        }
        fn record_event(&self, _: &str, _: &str, _: &str) -> Result<(), LabelError> {
            Ok(())
        }
    }

    #[test]
    fn cleanup_asks_every_node_and_clears_the_request() {
        let api = FakeApi { nodes: RefCell::new(BTreeMap::new()) };
        api.set_label("a", READY_LABEL, Some("ready")).expect("label");
        api.set_label("b", "other", Some("x")).expect("label");
        let left = cleanup(&api, Duration::from_secs(1), Duration::ZERO).expect("cleanup");
        assert!(left.is_empty());
        assert_eq!(api.label("a", READY_LABEL).expect("read"), None);
        assert_eq!(api.nodes(Some(UNINSTALL_LABEL)).expect("list"), Vec::<String>::new());
        assert_eq!(api.label("b", "other").expect("read").as_deref(), Some("x"));
    }
}
