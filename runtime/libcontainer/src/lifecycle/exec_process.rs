//! The process `exec` runs: a `--process` file, or the container's own process with the
//! flags applied. Pure: resolved once the container's process is read from its config.json.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Process;

use crate::error::ContainerError;

/// Where the exec'd process comes from.
#[derive(Debug, Clone)]
pub enum ExecProcess {
    /// `--process FILE`, parsed: what it leaves out comes from the container's process.
    File(Box<Process>),
    /// The container's own process with these flags applied.
    Flags(Overrides),
}

/// The exec'd process, from its source and the container's own process (config.json's).
pub fn resolve(source: ExecProcess, container: Option<&Process>, id: &str) -> Result<Process, ContainerError> {
    match source {
        ExecProcess::File(mut p) => {
            if let Some(c) = container {
                inherit_from_container(&mut p, c);
            }
            Ok(*p)
        }
        ExecProcess::Flags(o) => process_from_flags(container.ok_or_else(|| ContainerError::NoProcess(id.to_string()))?, &o),
    }
}

/// The container's own process, read from `bundle`/config.json. Only `process` is parsed:
/// the rest was checked by `create`, and `exec` needs nothing else from it.
pub fn container_process(bundle: &Path) -> Result<Option<Process>, ContainerError> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).map_err(|source| ContainerError::ReadConfig { path: path.clone(), source })?;
    parse_container_process(&data, &path)
}

/// `process` of a config.json's bytes (`path` only names it in errors), with the scheduler
/// flags of runtime-spec 1.2 respelled as create does. Pure.
fn parse_container_process(data: &[u8], path: &Path) -> Result<Option<Process>, ContainerError> {
    #[derive(serde::Deserialize)]
    struct OnlyProcess<T> {
        process: Option<T>,
    }
    let invalid = |source| ContainerError::InvalidConfig { path: path.to_path_buf(), field: "process".into(), source };
    match serde_json::from_slice::<OnlyProcess<Process>>(data) {
        Ok(p) => Ok(p.process),
        Err(e) => {
            let mut raw = serde_json::from_slice::<OnlyProcess<serde_json::Value>>(data).map_err(invalid)?.process;
            if !crate::plan::process_extra::respell_sched_flags(raw.as_mut()) {
                return Err(invalid(e));
            }
            raw.map(serde_json::from_value).transpose().map_err(invalid)
        }
    }
}

/// Flag overrides for `exec` without `--process`, applied to the container's own process.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// `UID[:GID]`
    pub user: Option<String>,
    pub additional_gids: Vec<u32>,
    pub caps: Vec<String>,
    pub no_new_privs: bool,
    pub tty: bool,
    /// `--apparmor`: replaces process.apparmorProfile.
    pub apparmor: Option<String>,
    /// `--process-label`: replaces process.selinuxLabel.
    pub process_label: Option<String>,
}

/// Builds the exec'd process from the container's and the flags, as runc does: new args,
/// extra env appended, cwd, user and groups replaced, capabilities added. Pure.
fn process_from_flags(base: &Process, o: &Overrides) -> Result<Process, ContainerError> {
    let mut p = base.clone();
    p.set_args(Some(o.args.clone()));
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(o.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(o.tty));
    if let Some(cwd) = &o.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut user = p.user().clone();
    if let Some(spec) = &o.user {
        let (uid, gid) = match spec.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (spec.as_str(), None),
        };
        let bad = || ContainerError::BadUser(spec.clone());
        user.set_uid(uid.parse().map_err(|_| bad())?);
        if let Some(g) = gid {
            user.set_gid(g.parse().map_err(|_| bad())?);
        }
    }
    if !o.additional_gids.is_empty() {
        user.set_additional_gids(Some(o.additional_gids.clone()));
    }
    p.set_user(user);
    if !o.caps.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for name in &o.caps {
            let short = name.strip_prefix("CAP_").unwrap_or(name);
            let cap: oci_spec::runtime::Capability = short.parse().map_err(|_| ContainerError::BadCapability(name.clone()))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            let (b, e, pm) = (add(caps.bounding()), add(caps.effective()), add(caps.permitted()));
            caps.set_bounding(b);
            caps.set_effective(e);
            caps.set_permitted(pm);
        }
        p.set_capabilities(Some(caps));
    }
    if o.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if o.apparmor.is_some() {
        p.set_apparmor_profile(o.apparmor.clone());
    }
    if o.process_label.is_some() {
        p.set_selinux_label(o.process_label.clone());
    }
    Ok(p)
}

/// What a `--process` file leaves out comes from the container's own process, as runc does:
/// the capabilities (left out, the process would keep every capability of the runtime), the
/// AppArmor profile and the SELinux label. The rest stays as the file says. Pure.
fn inherit_from_container(p: &mut Process, container: &Process) {
    if p.capabilities().is_none() {
        p.set_capabilities(container.capabilities().clone());
    }
    if p.apparmor_profile().is_none() {
        p.set_apparmor_profile(container.apparmor_profile().clone());
    }
    if p.selinux_label().is_none() {
        p.set_selinux_label(container.selinux_label().clone());
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn base() -> Process {
        serde_json::from_value(serde_json::json!({
            "args": ["sh"], "cwd": "/", "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]}
        }))
        .unwrap()
    }

    #[test]
    fn flags_override_the_container_process() {
        let o = Overrides {
            args: vec!["ls".into(), "-l".into()],
            env: vec!["A=1".into()],
            cwd: Some("/tmp".into()),
            user: Some("1000:1001".into()),
            additional_gids: vec![5],
            caps: vec!["CAP_NET_ADMIN".into()],
            no_new_privs: true,
            tty: true,
            apparmor: Some("youki-test".into()),
            process_label: Some("u:r:t:s0".into()),
        };
        let p = process_from_flags(&base(), &o).unwrap();
        assert_eq!(p.apparmor_profile().as_deref(), Some("youki-test"));
        assert_eq!(p.selinux_label().as_deref(), Some("u:r:t:s0"));
        assert_eq!(p.args().as_deref().unwrap(), ["ls", "-l"]);
        assert_eq!(p.env().as_deref().unwrap(), ["PATH=/bin", "A=1"]);
        assert_eq!(p.cwd(), Path::new("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[5u32][..]));
        assert!(p.capabilities().as_ref().unwrap().bounding().as_ref().unwrap().contains(&oci_spec::runtime::Capability::NetAdmin));
        assert_eq!(p.no_new_privileges(), Some(true));
        assert_eq!(p.terminal(), Some(true));
    }

    #[test]
    fn a_process_file_takes_what_it_leaves_out_from_the_container() {
        let mut container = base();
        container.set_apparmor_profile(Some("ctr-profile".into()));
        container.set_selinux_label(Some("u:r:ctr:s0".into()));
        let mut p: Process = serde_json::from_value(serde_json::json!({"args": ["id"], "cwd": "/", "user": {"uid": 0, "gid": 0}})).unwrap();
        inherit_from_container(&mut p, &container);
        assert_eq!(p.capabilities(), container.capabilities());
        assert_eq!(p.apparmor_profile().as_deref(), Some("ctr-profile"));
        assert_eq!(p.selinux_label().as_deref(), Some("u:r:ctr:s0"));
        // What the file says stays, an empty capability set too.
        let mut p: Process = serde_json::from_value(serde_json::json!({
            "args": ["id"], "cwd": "/", "user": {"uid": 0, "gid": 0},
            "capabilities": {"bounding": [], "effective": [], "permitted": []}, "apparmorProfile": "own"
        }))
        .unwrap();
        inherit_from_container(&mut p, &container);
        assert_eq!(p.capabilities().as_ref().unwrap().bounding().as_ref().map(|b| b.len()), Some(0));
        assert_eq!(p.apparmor_profile().as_deref(), Some("own"));
    }

    #[test]
    fn bad_user_and_cap_are_named() {
        let o = Overrides { args: vec!["ls".into()], user: Some("bob".into()), ..Default::default() };
        assert_eq!(process_from_flags(&base(), &o).unwrap_err().to_string(), r#"invalid --user "bob": expected UID[:GID]"#);
        let o = Overrides { args: vec!["ls".into()], caps: vec!["CAP_NOPE".into()], ..Default::default() };
        assert_eq!(process_from_flags(&base(), &o).unwrap_err().to_string(), r#"invalid --cap "CAP_NOPE""#);
    }

    #[test]
    fn only_the_process_of_config_json_is_read() {
        let path = Path::new("/b/config.json");
        // The rest of the file is not looked at: a field create would refuse is ignored here.
        let p = parse_container_process(
            br#"{"ociVersion": "1.2.0", "mounts": 7, "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 3, "gid": 4}}}"#,
            path,
        )
        .unwrap()
        .unwrap();
        assert_eq!((p.args().as_deref().unwrap(), p.user().uid()), (&["sh".to_string()][..], 3));
        assert!(parse_container_process(br#"{"ociVersion": "1.2.0"}"#, path).unwrap().is_none());
        // runtime-spec 1.2's scheduler flag names, as create takes them.
        let p = parse_container_process(
            br#"{"process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}}}"#,
            path,
        )
        .unwrap()
        .unwrap();
        assert!(p.scheduler().is_some());
        // A bad process is named, with the file.
        let e = parse_container_process(br#"{"process": {"args": ["sh"]}}"#, path).unwrap_err();
        assert!(e.to_string().contains("/b/config.json"), "{e}");
        assert!(parse_container_process(b"{", path).is_err());
    }

    #[test]
    fn flags_need_the_container_process_and_a_file_does_not() {
        let o = Overrides { args: vec!["ls".into()], ..Default::default() };
        let err = resolve(ExecProcess::Flags(o.clone()), None, "c1").unwrap_err();
        assert_eq!(err.to_string(), r#"config.json of container "c1" has no process"#);
        assert_eq!(resolve(ExecProcess::Flags(o), Some(&base()), "c1").unwrap().args().as_deref().unwrap(), ["ls"]);
        let file: Process = serde_json::from_value(serde_json::json!({"args": ["id"], "cwd": "/", "user": {"uid": 0, "gid": 0}})).unwrap();
        let alone = resolve(ExecProcess::File(Box::new(file.clone())), None, "c1").unwrap();
        assert!(alone.capabilities().is_none());
        let inherited = resolve(ExecProcess::File(Box::new(file)), Some(&base()), "c1").unwrap();
        assert_eq!(inherited.capabilities(), base().capabilities());
    }
}
