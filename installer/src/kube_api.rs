//! `NodeApi` over the Kubernetes API (kube + k8s-openapi): labels are set and removed with a
//! JSON merge patch on the node, read with a get, and nodes listed with a label selector.
//! The config is the pod's service account in a cluster, or KUBECONFIG (or ~/.kube/config).

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Node};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, Config};

use crate::labels::{LabelError, NodeApi};

/// How long one API call may take before it counts as failed.
const DEADLINE: Duration = Duration::from_secs(30);

/// The node API of a real (or mock) API server. Its calls block on a private
/// single-threaded runtime, so the rest of the installer stays synchronous.
pub struct KubeNodes {
    rt: tokio::runtime::Runtime,
    nodes: Api<Node>,
    events: Api<Event>,
}

/// Where node events go, as the kubelet's own (nodes are not namespaced).
pub const EVENT_NAMESPACE: &str = "default";

impl KubeNodes {
    /// Connects with the inferred config: KUBECONFIG or ~/.kube/config when present, else
    /// the in-cluster service account.
    pub fn connect() -> Result<Self, LabelError> {
        let rt = crate::runtime().map_err(LabelError::Runtime)?;
        let config = rt.block_on(Config::infer()).map_err(|e| LabelError::Config(Box::new(e)))?;
        let client = {
            // The client's buffer task is spawned on this runtime.
            let _entered = rt.enter();
            Client::try_from(config).map_err(|source| LabelError::Client(Box::new(source)))?
        };
        Ok(Self::from_client(rt, client))
    }

    /// Uses `client`, which must have been made inside `rt` (see `kube::Client::new`).
    pub fn from_client(rt: tokio::runtime::Runtime, client: Client) -> Self {
        KubeNodes { rt, nodes: Api::all(client.clone()), events: Api::namespaced(client, EVENT_NAMESPACE) }
    }

    fn call<T>(&self, op: impl Fn() -> String, fut: impl Future<Output = Result<T, kube::Error>>) -> Result<T, LabelError> {
        match self.rt.block_on(async { tokio::time::timeout(DEADLINE, fut).await }) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(kube::Error::Api(status))) => {
                Err(LabelError::Refused { op: op(), code: status.code, reason: status.reason.clone(), message: status.message.clone() })
            }
            Ok(Err(source)) => Err(LabelError::Request { op: op(), source: Box::new(source) }),
            Err(_) => Err(LabelError::Timeout { op: op(), secs: DEADLINE.as_secs() }),
        }
    }
}

/// A Warning event about `node`, from the installer.
pub fn node_event(node: &str, reason: &str, message: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": { "generateName": format!("{node}.youki-installer."), "namespace": EVENT_NAMESPACE },
        "involvedObject": { "apiVersion": "v1", "kind": "Node", "name": node },
        "reason": reason,
        "message": message,
        "type": "Warning",
        "count": 1,
        "source": { "component": "youki-installer", "host": node },
        "reportingComponent": "youki-installer",
        "reportingInstance": node,
    })
}

/// The merge patch that sets (`Some`) or removes (`None`, a JSON null) one label.
pub fn label_patch(key: &str, value: Option<&str>) -> serde_json::Value {
    let mut labels = serde_json::Map::new();
    labels.insert(key.to_string(), value.map_or(serde_json::Value::Null, |v| v.into()));
    serde_json::json!({ "metadata": { "labels": labels } })
}

impl NodeApi for KubeNodes {
    fn set_labels(&self, node: &str, labels: &std::collections::BTreeMap<String, Option<String>>) -> Result<(), LabelError> {
        let map: serde_json::Map<String, serde_json::Value> =
            labels.iter().map(|(k, v)| (k.clone(), v.as_deref().map_or(serde_json::Value::Null, Into::into))).collect();
        let patch = serde_json::json!({ "metadata": { "labels": map } });
        self.call(
            || format!("label node {node:?} with {} feature label(s)", labels.len()),
            self.nodes.patch(node, &PatchParams::default(), &Patch::Merge(&patch)),
        )
        .map(drop)
    }

    fn record_event(&self, node: &str, reason: &str, message: &str) -> Result<(), LabelError> {
        let event: Event = serde_json::from_value(node_event(node, reason, message)).map_err(|e| LabelError::Refused {
            op: format!("record event {reason} on node {node:?}"),
            code: 0,
            reason: "Invalid".to_string(),
            message: e.to_string(),
        })?;
        self.call(|| format!("record event {reason} on node {node:?}"), self.events.create(&PostParams::default(), &event)).map(drop)
    }

    fn set_label(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), LabelError> {
        let patch = label_patch(key, value);
        let op = || match value {
            Some(v) => format!("label node {node:?} {key}={v}"),
            None => format!("remove label {key} from node {node:?}"),
        };
        self.call(op, self.nodes.patch(node, &PatchParams::default(), &Patch::Merge(&patch))).map(drop)
    }

    fn label(&self, node: &str, key: &str) -> Result<Option<String>, LabelError> {
        let n = self.call(|| format!("read node {node:?}"), self.nodes.get(node))?;
        Ok(n.metadata.labels.and_then(|mut l| l.remove(key)))
    }

    fn nodes(&self, key: Option<&str>) -> Result<Vec<String>, LabelError> {
        let lp = match key {
            Some(k) => ListParams::default().labels(k),
            None => ListParams::default(),
        };
        let op = || match key {
            Some(k) => format!("list nodes labelled {k}"),
            None => "list nodes".to_string(),
        };
        let list = self.call(op, self.nodes.list(&lp))?;
        Ok(list.items.into_iter().filter_map(|n| n.metadata.name).collect())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn removal_is_a_json_null_and_setting_a_string() {
        assert_eq!(super::label_patch("youki.dev/runtime", None).to_string(), r#"{"metadata":{"labels":{"youki.dev/runtime":null}}}"#);
        assert_eq!(
            super::label_patch("youki.dev/runtime", Some("ready")).to_string(),
            r#"{"metadata":{"labels":{"youki.dev/runtime":"ready"}}}"#
        );
    }
}
