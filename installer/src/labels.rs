//! The node label that lets pods with `runtimeClassName: youki` schedule, and the label the
//! chart's pre-delete hook sets to ask for a full uninstall.
//!
//! The Kubernetes API is reached through `kubectl` (shipped in the installer image, using the
//! pod's service account), which keeps this crate free of an HTTP/TLS stack.

use std::process::Command;

/// Set to `ready` once the runtime answers on this node.
pub const READY_LABEL: &str = "youki.dev/runtime";
/// Set to `requested` by the chart's pre-delete hook: uninstall fully on this node.
pub const UNINSTALL_LABEL: &str = "youki.dev/uninstall";

/// Problems talking to the API server.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("run {command}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{command} failed: {stderr}")]
    Failed { command: String, stderr: String },
}

/// The node API the installer needs; a trait so `run` can be tested without a cluster.
pub trait NodeApi {
    /// Sets (`Some`) or removes (`None`) a label on the node.
    fn set_label(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), LabelError>;
    /// Reads a label of the node.
    fn label(&self, node: &str, key: &str) -> Result<Option<String>, LabelError>;
    /// Names of the nodes that carry `key` (any value); all nodes when `key` is None.
    fn nodes(&self, key: Option<&str>) -> Result<Vec<String>, LabelError>;
}

/// The chart's pre-delete hook: ask every node to uninstall, and wait until each node that
/// was labelled ready has cleared the request (its installer does that only after a complete
/// uninstall) or `timeout` passes. Then withdraw the request everywhere, so nodes without an
/// installer are not left labelled and installers that had to defer go back to ready.
/// Returns the nodes that did not finish.
pub fn cleanup(
    api: &dyn NodeApi,
    timeout: std::time::Duration,
    poll: std::time::Duration,
) -> Result<Vec<String>, LabelError> {
    let installed = api.nodes(Some(READY_LABEL))?;
    for node in api.nodes(None)? {
        api.set_label(&node, UNINSTALL_LABEL, Some("requested"))?;
    }
    let start = std::time::Instant::now();
    let pending = |api: &dyn NodeApi| -> Result<Vec<String>, LabelError> {
        let requested = api.nodes(Some(UNINSTALL_LABEL))?;
        Ok(installed
            .iter()
            .filter(|n| requested.contains(n))
            .cloned()
            .collect())
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

/// `kubectl` from PATH (or `kubectl` named by `YOUKI_KUBECTL`).
pub struct Kubectl;

impl Kubectl {
    fn run(&self, args: &[String]) -> Result<String, LabelError> {
        let bin = std::env::var("YOUKI_KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
        let command = format!("{bin} {}", args.join(" "));
        let out = Command::new(&bin)
            .args(args)
            .output()
            .map_err(|source| LabelError::Spawn {
                command: command.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(LabelError::Failed {
                command,
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl NodeApi for Kubectl {
    fn set_label(&self, node: &str, key: &str, value: Option<&str>) -> Result<(), LabelError> {
        let arg = match value {
            Some(v) => format!("{key}={v}"),
            None => format!("{key}-"),
        };
        self.run(&[
            "label".into(),
            "node".into(),
            node.into(),
            arg,
            "--overwrite".into(),
        ])
        .map(|_| ())
    }

    fn label(&self, node: &str, key: &str) -> Result<Option<String>, LabelError> {
        let path = format!("{{.metadata.labels.{}}}", key.replace('.', "\\."));
        let out = self.run(&[
            "get".into(),
            "node".into(),
            node.into(),
            "-o".into(),
            format!("jsonpath={path}"),
        ])?;
        let v = out.trim();
        Ok(if v.is_empty() {
            None
        } else {
            Some(v.to_string())
        })
    }

    fn nodes(&self, key: Option<&str>) -> Result<Vec<String>, LabelError> {
        let mut args: Vec<String> = vec!["get".into(), "nodes".into()];
        if let Some(k) = key {
            args.push("-l".into());
            args.push(k.into());
        }
        args.push("-o".into());
        args.push("jsonpath={.items[*].metadata.name}".into());
        Ok(self
            .run(&args)?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }
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
            Ok(self
                .nodes
                .borrow()
                .get(node)
                .and_then(|l| l.get(key).cloned()))
        }
        fn nodes(&self, key: Option<&str>) -> Result<Vec<String>, LabelError> {
            let mut nodes = self.nodes.borrow_mut();
            for labels in nodes.values_mut() {
                if labels.contains_key(UNINSTALL_LABEL) && labels.contains_key(READY_LABEL) {
                    labels.remove(READY_LABEL);
                    labels.remove(UNINSTALL_LABEL);
                }
            }
            Ok(nodes
                .iter()
                .filter(|(_, l)| key.map(|k| l.contains_key(k)).unwrap_or(true))
                .map(|(n, _)| n.clone())
                .collect())
        }
    }

    #[test]
    fn cleanup_asks_every_node_and_clears_the_request() {
        let api = FakeApi {
            nodes: RefCell::new(BTreeMap::new()),
        };
        api.set_label("a", READY_LABEL, Some("ready"))
            .expect("label");
        api.set_label("b", "other", Some("x")).expect("label");
        let left = cleanup(&api, Duration::from_secs(1), Duration::ZERO).expect("cleanup");
        assert!(left.is_empty());
        assert_eq!(api.label("a", READY_LABEL).expect("read"), None);
        assert_eq!(
            api.nodes(Some(UNINSTALL_LABEL)).expect("list"),
            Vec::<String>::new()
        );
        assert_eq!(api.label("b", "other").expect("read").as_deref(), Some("x"));
    }
}
