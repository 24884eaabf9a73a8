//! `linux.intelRdt` as runtime-spec 1.3 defines it (config-linux.md "IntelRdt"): the
//! container's CLOS group in the resctrl filesystem, its `schemata`, and a MON group for
//! monitoring. `plan` checks the object with no I/O; `apply` and `remove` work on a resctrl
//! root given as an argument (the real one is `RESCTRL_ROOT`; tests use a fake tree in a temp
//! dir), and what `apply` made is recorded in the state directory so `delete` undoes exactly
//! that.
//!
//! oci-spec 0.8 does not carry `schemata` and `enableMonitoring`, so the object is read from
//! config.json's JSON (`from_config`). The deprecated `enableCMT` and `enableMBM` (1.1 to 1.2,
//! never implemented anywhere) are accepted and ignored.
//!
//! Not exercised against a real kernel: resctrl needs Intel RDT (or AMD QoS) hardware, and the
//! hosts this was written on have none.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where the kernel's resctrl filesystem is mounted.
pub const RESCTRL_ROOT: &str = "/sys/fs/resctrl";

/// The record of what `apply` made, in the container's state directory.
pub const RECORD: &str = "intel_rdt.json";

/// Names in the resctrl root that are the kernel's own files and directories, not groups.
const RESERVED: &[&str] = &["info", "mon_data", "mon_groups", "cpus", "cpus_list", "mode", "schemata", "size", "tasks"];

/// `linux.intelRdt` as config.json spells it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RdtConfig {
    #[serde(rename = "closID")]
    pub clos_id: Option<String>,
    pub l3_cache_schema: Option<String>,
    pub mem_bw_schema: Option<String>,
    pub schemata: Option<Vec<String>>,
    pub enable_monitoring: Option<bool>,
}

/// What `apply` does, decided up front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdtPlan {
    /// The CLOS group: a directory under the resctrl root, or the root itself (`closID` "/").
    pub group: Group,
    /// l3CacheSchema and memBwSchema, in that order: written to a group the runtime makes,
    /// compared with the `schemata` file of one that exists.
    pub schemas: Vec<String>,
    /// The `schemata` lines: written last, to a new group or an existing one.
    pub schemata: Vec<String>,
    /// `closID` was given: the group may be pre-configured, and is never removed.
    pub clos_id_given: bool,
    /// The MON group `mon_groups/<container id>` under the CLOS group, for enableMonitoring.
    pub mon_group: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Group {
    Root,
    Named(String),
}

/// What is wrong with the object itself (a `SpecError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RdtPlanError {
    #[error("invalid linux.intelRdt: {0}")]
    Config(String),
    #[error("invalid linux.intelRdt.{field} {value:?}: {why}")]
    Invalid { field: &'static str, value: String, why: String },
}

#[derive(Debug, thiserror::Error)]
pub enum RdtError {
    #[error(transparent)]
    Plan(#[from] RdtPlanError),
    #[error("linux.intelRdt needs resctrl, which is not mounted at {0:?}")]
    NoResctrl(PathBuf),
    #[error("resctrl group {0:?} does not exist, and linux.intelRdt gives no schemata to create it with")]
    NoGroup(PathBuf),
    #[error("resctrl group {group:?} exists with other schemata: {line:?} does not match")]
    Mismatch { group: PathBuf, line: String },
    #[error("{op} {path:?}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> RdtError + 'a {
    move |source| RdtError::Io { op, path: path.to_path_buf(), source }
}

/// Reads `linux.intelRdt` out of config.json's JSON; None when it is absent or null.
pub fn from_config(raw: &serde_json::Value) -> Result<Option<RdtConfig>, RdtPlanError> {
    match raw.get("linux").and_then(|l| l.get("intelRdt")) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| RdtPlanError::Config(e.to_string())),
    }
}

/// The fields oci-spec carries (closID, l3CacheSchema, memBwSchema), for checks in `plan`
/// before config.json's own object is read.
pub fn from_spec(r: &oci_spec::runtime::LinuxIntelRdt) -> RdtConfig {
    RdtConfig {
        clos_id: r.clos_id().clone(),
        l3_cache_schema: r.l3_cache_schema().clone(),
        mem_bw_schema: r.mem_bw_schema().clone(),
        schemata: None,
        enable_monitoring: None,
    }
}

/// Checks the object and decides the group, the schemata lines and the MON group.
pub fn plan(c: &RdtConfig, id: &str) -> Result<RdtPlan, RdtPlanError> {
    let invalid =
        |field: &'static str, value: &str, why: &str| RdtPlanError::Invalid { field, value: value.to_string(), why: why.to_string() };
    let clos_id = c.clos_id.as_deref().filter(|s| !s.is_empty());
    let group = match clos_id {
        Some("/") => Group::Root,
        Some(name) => Group::Named(check_group_name(name).map_err(|why| invalid("closID", name, why))?),
        // Without closID the group is named after the container.
        None => Group::Named(check_group_name(id).map_err(|why| invalid("closID", id, why))?),
    };
    let mut schemas = Vec::new();
    if let Some(l3) = c.l3_cache_schema.as_deref().filter(|s| !s.is_empty()) {
        check_line(l3).map_err(|why| invalid("l3CacheSchema", l3, &why))?;
        if !l3.starts_with("L3") {
            return Err(invalid("l3CacheSchema", l3, "must start with L3: (or L3CODE:/L3DATA:)"));
        }
        schemas.push(l3.to_string());
    }
    if let Some(mb) = c.mem_bw_schema.as_deref().filter(|s| !s.is_empty()) {
        check_line(mb).map_err(|why| invalid("memBwSchema", mb, &why))?;
        if !mb.starts_with("MB:") {
            return Err(invalid("memBwSchema", mb, "must start with MB:"));
        }
        schemas.push(mb.to_string());
    }
    let mut schemata = Vec::new();
    for line in c.schemata.iter().flatten() {
        check_line(line).map_err(|why| invalid("schemata", line, &why))?;
        schemata.push(line.to_string());
    }
    let mon_group = match c.enable_monitoring {
        Some(true) => Some(check_group_name(id).map_err(|why| invalid("enableMonitoring", id, why))?),
        _ => None,
    };
    Ok(RdtPlan { group, schemas, schemata, clos_id_given: clos_id.is_some(), mon_group })
}

/// A resctrl group name: one path component that is none of the root's own entries.
fn check_group_name(name: &str) -> Result<String, &'static str> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err("must be a single path component (or \"/\" for the default group)");
    }
    if name.contains('\n') {
        return Err("must not contain a newline");
    }
    if RESERVED.contains(&name) {
        return Err("names one of resctrl's own files");
    }
    Ok(name.to_string())
}

/// One line of a schemata file: `RESOURCE:DOMAIN=VALUE;DOMAIN=VALUE...` (resctrl.rst).
fn check_line(line: &str) -> Result<(), String> {
    if line.contains('\n') || line.contains('\r') {
        return Err("must not contain a newline".into());
    }
    parse_line(line).map(|_| ())
}

/// `L3:0=ff;1=f0` as ("L3", {"0": "ff", "1": "f0"}).
fn parse_line(line: &str) -> Result<(String, BTreeMap<String, String>), String> {
    let (res, domains) = line.trim().split_once(':').ok_or("expected RESOURCE:DOMAIN=VALUE;...")?;
    if res.is_empty() || !res.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        return Err(format!("{res:?} is not a resource name"));
    }
    let mut out = BTreeMap::new();
    for d in domains.split(';') {
        let (dom, val) = d.trim().split_once('=').ok_or_else(|| format!("{d:?} is not DOMAIN=VALUE"))?;
        let (dom, val) = (dom.trim(), val.trim());
        if dom.is_empty() || !dom.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{dom:?} is not a domain id"));
        }
        if val.is_empty() || !val.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{val:?} is not a bitmask or bandwidth"));
        }
        out.insert(dom.to_string(), val.to_string());
    }
    Ok((res.to_string(), out))
}

/// What `apply` made, so that `remove` takes back exactly that.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Applied {
    pub group: PathBuf,
    /// The runtime made the group (no closID, or a closID group that did not exist).
    pub created_group: bool,
    pub mon_group: Option<PathBuf>,
}

/// Puts `pid` in the planned group under `root`: creates or checks the group, writes its
/// schemata, makes the MON group. On failure, what it made is gone again.
pub fn apply(root: &Path, p: &RdtPlan, pid: i32) -> Result<Applied, RdtError> {
    if !root.join("schemata").exists() {
        return Err(RdtError::NoResctrl(root.to_path_buf()));
    }
    let group = match &p.group {
        Group::Root => root.to_path_buf(),
        Group::Named(n) => root.join(n),
    };
    let exists = group.is_dir();
    if !exists && p.clos_id_given && p.schemas.is_empty() && p.schemata.is_empty() {
        return Err(RdtError::NoGroup(group));
    }
    let mut applied = Applied { group: group.clone(), created_group: false, mon_group: None };
    let result = (|| {
        // config-linux.md: l3CacheSchema and memBwSchema are written to a group the runtime
        // makes and compared with one that exists; `schemata` is written either way, last.
        if exists {
            compare_schemata(&group, &p.schemas)?;
            write_schemata(&group, &p.schemata)?;
        } else {
            fs::create_dir(&group).map_err(io("create resctrl group", &group))?;
            applied.created_group = true;
            write_schemata(&group, &[p.schemas.as_slice(), p.schemata.as_slice()].concat())?;
        }
        write_file(&group.join("tasks"), &pid.to_string())?;
        if let Some(name) = &p.mon_group {
            let mon = group.join("mon_groups").join(name);
            // Fails when the hardware has no free RMID left: the spec wants that an error.
            fs::create_dir(&mon).map_err(io("create resctrl MON group", &mon))?;
            applied.mon_group = Some(mon.clone());
            write_file(&mon.join("tasks"), &pid.to_string())?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(applied),
        Err(e) => {
            let _ = remove(&applied);
            Err(e)
        }
    }
}

/// Writes the lines, in order, in one write: the kernel applies them a line at a time and
/// says which one it refused in `info/last_cmd_status`.
fn write_schemata(group: &Path, lines: &[String]) -> Result<(), RdtError> {
    if lines.is_empty() {
        return Ok(());
    }
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    write_file(&group.join("schemata"), &text)
}

fn write_file(path: &Path, text: &str) -> Result<(), RdtError> {
    let mut f = fs::OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(io("open", path))?;
    f.write_all(text.as_bytes()).map_err(io("write", path))
}

/// A pre-configured group must already have the schemata the spec asks for: every domain
/// of every line, with the same value (hex digits compared without case or leading zeros).
fn compare_schemata(group: &Path, lines: &[String]) -> Result<(), RdtError> {
    let path = group.join("schemata");
    let text = fs::read_to_string(&path).map_err(io("read", &path))?;
    let mut have: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Ok((res, doms)) = parse_line(l) {
            have.entry(res).or_default().extend(doms);
        }
    }
    let norm = |v: &str| {
        let t = v.trim_start_matches('0').to_ascii_lowercase();
        if t.is_empty() {
            "0".to_string()
        } else {
            t
        }
    };
    for line in lines {
        let Ok((res, doms)) = parse_line(line) else { continue };
        let matches = have.get(&res).is_some_and(|h| doms.iter().all(|(d, v)| h.get(d).is_some_and(|hv| norm(hv) == norm(v))));
        if !matches {
            return Err(RdtError::Mismatch { group: group.to_path_buf(), line: line.clone() });
        }
    }
    Ok(())
}

/// Takes back what `apply` made: the MON group always, the CLOS group only when the runtime
/// made it. The kernel moves the tasks of a removed group to its parent.
pub fn remove(a: &Applied) -> Result<(), RdtError> {
    let mut first = None;
    if let Some(mon) = &a.mon_group {
        if let Err(e) = fs::remove_dir(mon).or_else(missing_ok) {
            first.get_or_insert(RdtError::Io { op: "remove resctrl MON group", path: mon.clone(), source: e });
        }
    }
    if a.created_group {
        if let Err(e) = fs::remove_dir(&a.group).or_else(missing_ok) {
            first.get_or_insert(RdtError::Io { op: "remove resctrl group", path: a.group.clone(), source: e });
        }
    }
    first.map_or(Ok(()), Err)
}

fn missing_ok(e: std::io::Error) -> std::io::Result<()> {
    if e.kind() == std::io::ErrorKind::NotFound {
        Ok(())
    } else {
        Err(e)
    }
}

/// Saves the record in the container's state directory.
pub fn save_record(state_dir: &Path, a: &Applied) -> Result<(), RdtError> {
    let path = state_dir.join(RECORD);
    let text = serde_json::to_string(a).map_err(|e| RdtError::Io { op: "encode", path: path.clone(), source: e.into() })?;
    fs::write(&path, text).map_err(io("write", &path))
}

/// `remove` for the record in a state directory, if there is one (delete, failed create).
pub fn remove_recorded(state_dir: &Path) -> Result<(), RdtError> {
    match load_record(state_dir)? {
        Some(a) => remove(&a),
        None => Ok(()),
    }
}

fn load_record(state_dir: &Path) -> Result<Option<Applied>, RdtError> {
    let path = state_dir.join(RECORD);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", &path)(e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| RdtError::Io { op: "decode", path, source: e.into() })
}

/// Puts a process that `exec` adds in the container's groups, from the record in its state
/// directory (the MON group's tasks also place it in the CLOS group); no record, nothing.
pub fn join_recorded(state_dir: &Path, pid: i32) -> Result<(), RdtError> {
    let Some(a) = load_record(state_dir)? else { return Ok(()) };
    write_file(&a.group.join("tasks"), &pid.to_string())?;
    if let Some(mon) = &a.mon_group {
        write_file(&mon.join("tasks"), &pid.to_string())?;
    }
    Ok(())
}

/// `create`'s step, once the container's init exists: reads config.json's `linux.intelRdt`
/// (with the 1.3 fields), plans it for `id`, puts `pid` in its groups under `RESCTRL_ROOT`
/// and records that in the state directory for `delete`.
pub fn setup(bundle: &Path, id: &str, pid: i32, state_dir: &Path) -> Result<(), RdtError> {
    let path = bundle.join("config.json");
    let text = fs::read(&path).map_err(io("read", &path))?;
    let raw: serde_json::Value = serde_json::from_slice(&text).map_err(|e| RdtPlanError::Config(e.to_string()))?;
    let Some(config) = from_config(&raw)? else { return Ok(()) };
    let applied = apply(Path::new(RESCTRL_ROOT), &plan(&config, id)?, pid)?;
    save_record(state_dir, &applied).inspect_err(|_| {
        let _ = remove(&applied);
    })
}

#[cfg(test)]
#[path = "intel_rdt_tests.rs"]
mod tests;
