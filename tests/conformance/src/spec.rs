//! Builds config.json for a case: the base equals what `runc spec` prints (embedded fixture),
//! switched to pass-through stdio and the checker; small pure edits add what a case needs.
//! The config stays a JSON value so cases can also write fields a runtime may not know
//! (runtime-spec 1.2 additions) or deliberately wrong ones.

use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};

/// `runc spec` output of runc 1.1.5, unchanged.
const RUNC_SPEC: &str = include_str!("fixtures/runc-spec.json");

/// The base config of every case: the `runc spec` default with `terminal: false` and the
/// checker as the process.
pub fn base() -> Result<Value> {
    let mut config: Value = serde_json::from_str(RUNC_SPEC).context("parsing the embedded runc spec fixture")?;
    set(&mut config, "/process/terminal", json!(false))?;
    set(&mut config, "/process/args", json!(["/checker"]))?;
    Ok(config)
}

/// Sets the value at a JSON pointer, creating missing intermediate objects.
pub fn set(config: &mut Value, pointer: &str, value: Value) -> Result<()> {
    let Some(path) = pointer.strip_prefix('/') else {
        bail!("JSON pointer {pointer:?} must start with '/'");
    };
    let keys: Vec<&str> = path.split('/').collect();
    let mut node = config;
    for key in &keys[..keys.len() - 1] {
        let obj = node.as_object_mut().with_context(|| format!("setting {pointer}: {key:?} is inside a non-object"))?;
        node = obj.entry(key.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
    let last = keys[keys.len() - 1];
    let obj = node.as_object_mut().with_context(|| format!("setting {pointer}: parent is not an object"))?;
    obj.insert(last.to_string(), value);
    Ok(())
}

/// Removes the value at a JSON pointer, if present.
pub fn remove(config: &mut Value, pointer: &str) {
    if let Some((parent, key)) = pointer.rsplit_once('/') {
        let parent = if parent.is_empty() { Some(&mut *config) } else { config.pointer_mut(parent) };
        if let Some(obj) = parent.and_then(Value::as_object_mut) {
            obj.remove(key);
        }
    }
}

/// Appends to the array at a JSON pointer, creating the array if missing.
pub fn push(config: &mut Value, pointer: &str, value: Value) -> Result<()> {
    if config.pointer(pointer).is_none() {
        set(config, pointer, json!([]))?;
    }
    let arr = config.pointer_mut(pointer).and_then(Value::as_array_mut).with_context(|| format!("{pointer} is not an array"))?;
    arr.push(value);
    Ok(())
}

pub fn args(config: &mut Value, args: &[&str]) -> Result<()> {
    set(config, "/process/args", json!(args))
}

/// The process runs the checker with these extra arguments.
pub fn checker_args(config: &mut Value, extra: &[&str]) -> Result<()> {
    let mut all = vec!["/checker"];
    all.extend_from_slice(extra);
    args(config, &all)
}

/// The process runs `sh -c SCRIPT` with busybox's sh.
pub fn shell(config: &mut Value, script: &str) -> Result<()> {
    args(config, &["sh", "-c", script])
}

pub fn mount(destination: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    json!({"destination": destination, "type": kind, "source": source, "options": options})
}

pub fn add_mount(config: &mut Value, mount: Value) -> Result<()> {
    push(config, "/mounts", mount)
}

/// Adds a namespace entry, replacing any existing entry of the same type.
pub fn namespace(config: &mut Value, kind: &str, path: Option<&str>) -> Result<()> {
    remove_namespace(config, kind);
    let entry = match path {
        Some(p) => json!({"type": kind, "path": p}),
        None => json!({"type": kind}),
    };
    push(config, "/linux/namespaces", entry)
}

pub fn remove_namespace(config: &mut Value, kind: &str) {
    if let Some(list) = config.pointer_mut("/linux/namespaces").and_then(Value::as_array_mut) {
        list.retain(|ns| ns.get("type").and_then(Value::as_str) != Some(kind));
    }
}

/// A hook entry as the spec describes it.
pub fn hook(path: &str, args: &[&str], env: &[&str], timeout: Option<u32>) -> Value {
    let mut h = json!({"path": path, "args": args});
    if !env.is_empty() {
        h["env"] = json!(env);
    }
    if let Some(t) = timeout {
        h["timeout"] = json!(t);
    }
    h
}

pub fn add_hook(config: &mut Value, kind: &str, hook: Value) -> Result<()> {
    push(config, &format!("/hooks/{kind}"), hook)
}

/// Capability bit numbers from capabilities(7), for the names the cases use.
pub fn cap_bit(name: &str) -> Option<u32> {
    const CAPS: [&str; 41] = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_DAC_READ_SEARCH",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_LINUX_IMMUTABLE",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_BROADCAST",
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
        "CAP_IPC_LOCK",
        "CAP_IPC_OWNER",
        "CAP_SYS_MODULE",
        "CAP_SYS_RAWIO",
        "CAP_SYS_CHROOT",
        "CAP_SYS_PTRACE",
        "CAP_SYS_PACCT",
        "CAP_SYS_ADMIN",
        "CAP_SYS_BOOT",
        "CAP_SYS_NICE",
        "CAP_SYS_RESOURCE",
        "CAP_SYS_TIME",
        "CAP_SYS_TTY_CONFIG",
        "CAP_MKNOD",
        "CAP_LEASE",
        "CAP_AUDIT_WRITE",
        "CAP_AUDIT_CONTROL",
        "CAP_SETFCAP",
        "CAP_MAC_OVERRIDE",
        "CAP_MAC_ADMIN",
        "CAP_SYSLOG",
        "CAP_WAKE_ALARM",
        "CAP_BLOCK_SUSPEND",
        "CAP_AUDIT_READ",
        "CAP_PERFMON",
        "CAP_BPF",
        "CAP_CHECKPOINT_RESTORE",
    ];
    CAPS.iter().position(|c| *c == name).map(|i| i as u32)
}

/// The bit mask of a list of capability names.
pub fn cap_mask(names: &[&str]) -> Result<u64> {
    names.iter().try_fold(0u64, |mask, name| {
        let bit = cap_bit(name).with_context(|| format!("unknown capability {name}"))?;
        Ok(mask | (1u64 << bit))
    })
}

/// The five capability sets of a process, as masks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// What /proc/self/status shows after execve(2) of a file without file capabilities, when
/// the runtime set `configured` just before the exec (capabilities(7), "Transformation of
/// capabilities during execve()"). For uid 0 the file sets count as full (no SECBIT_NOROOT),
/// so the new permitted set is bounding | inheritable, capped at the old permitted set when
/// no_new_privs forbids gaining privileges; ambient is added, and effective = permitted.
/// For other uids permitted = effective = ambient. Ambient, inheritable and bounding pass
/// unchanged.
pub fn caps_after_exec(configured: CapSets, euid_is_root: bool, no_new_privs: bool) -> CapSets {
    let mut from_file = if euid_is_root { configured.bounding | configured.inheritable } else { 0 };
    if no_new_privs && from_file & !configured.permitted != 0 {
        from_file &= configured.permitted;
    }
    let permitted = from_file | configured.ambient;
    CapSets { effective: permitted, permitted, ..configured }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_is_the_runc_default_with_the_checker() {
        let config = base().expect("fixture parses");
        assert_eq!(config["process"]["terminal"], json!(false));
        assert_eq!(config["process"]["args"], json!(["/checker"]));
        assert_eq!(config["root"], json!({"path": "rootfs", "readonly": true}));
        assert_eq!(config["mounts"].as_array().map(Vec::len), Some(7));
        assert_eq!(config["linux"]["namespaces"].as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut config = json!({"linux": {}});
        set(&mut config, "/linux/resources/pids/limit", json!(10)).expect("settable");
        assert_eq!(config, json!({"linux": {"resources": {"pids": {"limit": 10}}}}));
        assert!(set(&mut json!({"a": 1}), "/a/b", json!(0)).is_err());
        assert!(set(&mut config, "no-slash", json!(0)).is_err());
    }

    #[test]
    fn remove_and_push_edit_in_place() {
        let mut config = json!({"process": {"args": ["x"], "cwd": "/"}});
        remove(&mut config, "/process/cwd");
        push(&mut config, "/process/args", json!("y")).expect("array");
        push(&mut config, "/hooks/poststop", json!({"path": "/bin/true"})).expect("created");
        assert_eq!(config, json!({"process": {"args": ["x", "y"]}, "hooks": {"poststop": [{"path": "/bin/true"}]}}));
    }

    #[test]
    fn namespace_replaces_an_entry_of_the_same_type() {
        let mut config = base().expect("fixture parses");
        namespace(&mut config, "network", Some("/proc/7/ns/net")).expect("edit");
        let nets: Vec<&Value> =
            config["linux"]["namespaces"].as_array().into_iter().flatten().filter(|ns| ns["type"] == "network").collect();
        assert_eq!(nets, vec![&json!({"type": "network", "path": "/proc/7/ns/net"})]);
        remove_namespace(&mut config, "network");
        assert!(!config["linux"]["namespaces"].to_string().contains("network"));
    }

    #[test]
    fn hook_entries_omit_unset_fields() {
        assert_eq!(hook("/bin/sh", &["sh"], &[], None), json!({"path": "/bin/sh", "args": ["sh"]}));
        assert_eq!(hook("/h", &[], &["A=1"], Some(2))["timeout"], json!(2));
    }

    #[test]
    fn capability_masks_follow_the_kernel_numbering() {
        assert_eq!(cap_mask(&["CAP_CHOWN", "CAP_KILL"]).expect("known"), 0b10_0001);
        assert_eq!(cap_bit("CAP_NET_BIND_SERVICE"), Some(10));
        assert_eq!(cap_bit("CAP_CHECKPOINT_RESTORE"), Some(40));
        assert!(cap_mask(&["CAP_NOPE"]).is_err());
    }

    #[test]
    fn exec_recomputes_permitted_and_effective() {
        let configured = CapSets { bounding: 0b0111, effective: 0b0001, permitted: 0b0011, inheritable: 0b0100, ambient: 0b0100 };
        let root = caps_after_exec(configured, true, false);
        assert_eq!((root.permitted, root.effective), (0b0111, 0b0111));
        let capped = caps_after_exec(configured, true, true);
        assert_eq!((capped.permitted, capped.effective), (0b0111, 0b0111));
        let narrow = CapSets { permitted: 0b0101, ..configured };
        assert_eq!(caps_after_exec(narrow, true, true).permitted, 0b0101);
        let user = caps_after_exec(configured, false, true);
        assert_eq!((user.permitted, user.effective, user.ambient), (0b0100, 0b0100, 0b0100));
        assert_eq!(user.bounding, configured.bounding);
    }
}
