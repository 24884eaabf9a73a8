//! The pod a failed create belongs to, from the CRI annotations that containerd writes
//! into the bundle's config.json. Best effort: a bundle already removed gives nothing.

use std::path::Path;

use serde_json::{json, Value};

/// The CRI annotations the report carries, and their keys in the report.
const CRI: &[(&str, &str)] = &[
    ("io.kubernetes.cri.sandbox-name", "name"),
    ("io.kubernetes.cri.sandbox-namespace", "namespace"),
    ("io.kubernetes.cri.sandbox-uid", "uid"),
    ("io.kubernetes.cri.container-name", "container"),
    ("io.kubernetes.cri.container-type", "container_type"),
];

/// The pod facts of a config.json's annotations, or None when it names no pod.
pub fn pod_of(config: &Value) -> Option<Value> {
    let ann = config.get("annotations")?.as_object()?;
    let mut pod = serde_json::Map::new();
    for (key, name) in CRI {
        if let Some(v) = ann.get(*key).and_then(Value::as_str) {
            pod.insert((*name).to_string(), json!(v));
        }
    }
    (!pod.is_empty()).then_some(Value::Object(pod))
}

/// Reads `bundle/config.json` and returns its pod facts; None when unreadable.
pub fn pod(bundle: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(bundle.join("config.json")).ok()?;
    let config: Value = serde_json::from_str(&text).ok()?;
    pod_of(&config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_cri_annotations() {
        let config = json!({"annotations": {
            "io.kubernetes.cri.sandbox-name": "web-0",
            "io.kubernetes.cri.sandbox-namespace": "shop",
            "io.kubernetes.cri.sandbox-uid": "u-1",
            "io.kubernetes.cri.container-name": "app",
            "other": "x",
        }});
        let pod = pod_of(&config).unwrap();
        assert_eq!(pod, json!({"name": "web-0", "namespace": "shop", "uid": "u-1", "container": "app"}));
        assert_eq!(pod_of(&json!({"annotations": {"other": "x"}})), None);
        assert_eq!(pod_of(&json!({})), None);
    }
}
