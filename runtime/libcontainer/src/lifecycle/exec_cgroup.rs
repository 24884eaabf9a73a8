//! `exec --cgroup`: the existing sub-cgroup of the container's cgroup that an exec'd process
//! joins instead of the container's own, as runc 1.2 takes it. `PATH` names it in every
//! hierarchy; `CONTROLLER[,CONTROLLER]:PATH` (repeatable, cgroup v1 only) in the hierarchies
//! of those controllers, the others keeping the bare `PATH` or the container's cgroup.
//! Parsing and placement are pure; `check_exists` looks at the host, and the caller adds
//! the process through the cgroup driver (`add_task`) of the placed state. Without
//! `--cgroup`, runc's cgroup v2 fallback (`init_fallback`) lives here too.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use libcgroups::{CgroupState, Driver};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubCgroupError {
    #[error("invalid --cgroup {0:?}: empty controller name")]
    EmptyController(String),
    #[error("invalid --cgroup: controller {0:?} given more than once")]
    ControllerTwice(String),
    #[error("invalid --cgroup: more than one path without a controller")]
    PathTwice,
    #[error("invalid --cgroup {0:?}: \"..\" may not leave the container's cgroup")]
    Escapes(String),
    #[error("invalid --cgroup: controller {0:?} is not in any of the container's cgroup hierarchies")]
    UnknownController(String),
    #[error("invalid --cgroup: controllers {0} share a hierarchy but were given different paths")]
    SharedHierarchy(String),
    #[error("invalid --cgroup: on cgroup v2 only a single path, without controllers, is allowed")]
    ControllersOnV2,
    #[error("exec --cgroup: sub-cgroup {0:?} does not exist")]
    Missing(PathBuf),
}

/// The parsed `--cgroup` flags: a path for every hierarchy and paths per controller, all
/// relative to the container's cgroup.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SubCgroups {
    pub all: Option<PathBuf>,
    pub by_controller: BTreeMap<String, PathBuf>,
}

impl SubCgroups {
    pub fn is_empty(&self) -> bool {
        self.all.is_none() && self.by_controller.is_empty()
    }
}

/// Parses the `--cgroup` values. Pure.
pub fn parse(args: &[String]) -> Result<SubCgroups, SubCgroupError> {
    let mut out = SubCgroups::default();
    for arg in args {
        match arg.split_once(':') {
            Some((controllers, path)) => {
                let rel = relative(arg, path)?;
                for c in controllers.split(',') {
                    if c.is_empty() {
                        return Err(SubCgroupError::EmptyController(arg.clone()));
                    }
                    if out.by_controller.insert(c.to_string(), rel.clone()).is_some() {
                        return Err(SubCgroupError::ControllerTwice(c.to_string()));
                    }
                }
            }
            None => {
                if out.all.replace(relative(arg, arg)?).is_some() {
                    return Err(SubCgroupError::PathTwice);
                }
            }
        }
    }
    Ok(out)
}

/// `path` below the container's cgroup: a leading "/" is the container's cgroup itself, "."
/// is dropped, and ".." is refused.
fn relative(arg: &str, path: &str) -> Result<PathBuf, SubCgroupError> {
    let mut rel = PathBuf::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(SubCgroupError::Escapes(arg.to_string())),
        }
    }
    Ok(rel)
}

/// The container's cgroup state with each directory moved to its sub-cgroup. Pure.
pub fn place(state: &CgroupState, sub: &SubCgroups) -> Result<CgroupState, SubCgroupError> {
    let v2_host = matches!(state.driver, Driver::V2 | Driver::Systemd | Driver::SystemdUser);
    if v2_host && !sub.by_controller.is_empty() {
        return Err(SubCgroupError::ControllersOnV2);
    }
    for c in sub.by_controller.keys() {
        if !state.dirs.iter().any(|d| d.hierarchy.controllers.contains(c)) {
            return Err(SubCgroupError::UnknownController(c.clone()));
        }
    }
    let mut placed = state.clone();
    for d in &mut placed.dirs {
        let named: Vec<(&String, &PathBuf)> = sub.by_controller.iter().filter(|(c, _)| d.hierarchy.controllers.contains(c)).collect();
        let rel = match named.as_slice() {
            [] => sub.all.as_ref(),
            [(_, first), rest @ ..] => {
                if rest.iter().any(|(_, p)| p != first) {
                    let names: Vec<&str> = named.iter().map(|(c, _)| c.as_str()).collect();
                    return Err(SubCgroupError::SharedHierarchy(names.join(",")));
                }
                Some(*first)
            }
        };
        if let Some(rel) = rel.filter(|r| !r.as_os_str().is_empty()) {
            d.dir = d.dir.join(rel);
        }
    }
    if let Some(rel) = sub.all.as_ref().filter(|r| !r.as_os_str().is_empty()) {
        placed.path = format!("{}/{}", state.path.trim_end_matches('/'), rel.display());
        // Below a systemd scope a sub-cgroup is a plain directory of the delegated tree, not
        // a unit: the process is written into it through cgroupfs, as runc does.
        if matches!(state.driver, Driver::Systemd | Driver::SystemdUser) {
            placed.driver = Driver::V2;
        }
    }
    Ok(placed)
}

/// Every directory of the placed state must exist: `exec --cgroup` joins, it never creates.
pub fn check_exists(placed: &CgroupState) -> Result<(), SubCgroupError> {
    match placed.dirs.iter().find(|d| !d.dir.is_dir()) {
        Some(d) => Err(SubCgroupError::Missing(d.dir.clone())),
        None => Ok(()),
    }
}

/// Whether adding a process failed because the cgroup may not hold processes (EBUSY: cgroup
/// v2's "no internal processes" rule).
pub fn is_busy(e: &libcgroups::CgroupError) -> bool {
    matches!(e, libcgroups::CgroupError::Write { source, .. } if source.raw_os_error() == Some(libc::EBUSY))
}

/// The container's state with its cgroup v2 directory moved to the cgroup of its init, from
/// the text of /proc/INIT/cgroup. None unless that cgroup lies strictly below the
/// container's (a fallback never leaves the container). Pure.
pub fn init_fallback(state: &CgroupState, init_cgroup: &str) -> Option<CgroupState> {
    let own = libcgroups::parse_proc_cgroup(init_cgroup).ok()?;
    let v2 = own.iter().find(|c| c.hierarchy_id == 0 && c.controllers.is_empty())?;
    let mut placed = state.clone();
    let mut moved = false;
    for d in placed.dirs.iter_mut().filter(|d| d.hierarchy.unified) {
        let rel = v2.path.strip_prefix(&d.hierarchy.root).ok()?;
        let dir = d.hierarchy.mountpoint.join(rel);
        if dir == d.dir || !dir.starts_with(&d.dir) || rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        d.dir = dir;
        moved = true;
    }
    moved.then_some(placed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcgroups::{CgroupDir, Hierarchy};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn dir(mount: &str, controllers: &[&str], unified: bool) -> CgroupDir {
        CgroupDir { hierarchy: Hierarchy::new(mount, controllers, unified), dir: PathBuf::from(mount).join("c/id") }
    }

    fn hybrid() -> CgroupState {
        CgroupState {
            driver: Driver::V1,
            path: "/c/id".into(),
            dirs: vec![
                dir("/sys/fs/cgroup/cpu,cpuacct", &["cpu", "cpuacct"], false),
                dir("/sys/fs/cgroup/memory", &["memory"], false),
                dir("/sys/fs/cgroup/unified", &["hugetlb"], true),
            ],
        }
    }

    fn dirs(s: &CgroupState) -> Vec<String> {
        s.dirs.iter().map(|d| d.dir.display().to_string()).collect()
    }

    #[test]
    fn parses_the_three_forms() {
        let s = parse(&args(&["sub", "memory:/m/x", "cpu,cpuacct:c"])).unwrap();
        assert_eq!(s.all, Some(PathBuf::from("sub")));
        assert_eq!(s.by_controller["memory"], Path::new("m/x"));
        assert_eq!(s.by_controller["cpu"], Path::new("c"));
        assert_eq!(s.by_controller["cpuacct"], Path::new("c"));
        assert!(parse(&[]).unwrap().is_empty());
    }

    #[test]
    fn refuses_bad_flags() {
        assert_eq!(parse(&args(&["../x"])), Err(SubCgroupError::Escapes("../x".into())));
        assert_eq!(parse(&args(&["memory:a/../../x"])), Err(SubCgroupError::Escapes("memory:a/../../x".into())));
        assert_eq!(parse(&args(&[",memory:x"])), Err(SubCgroupError::EmptyController(",memory:x".into())));
        assert_eq!(parse(&args(&["memory:x", "memory:y"])), Err(SubCgroupError::ControllerTwice("memory".into())));
        assert_eq!(parse(&args(&["a", "b"])), Err(SubCgroupError::PathTwice));
        assert_eq!(
            parse(&args(&["../x"])).unwrap_err().to_string(),
            r#"invalid --cgroup "../x": ".." may not leave the container's cgroup"#
        );
    }

    #[test]
    fn a_bare_path_moves_every_hierarchy() {
        let p = place(&hybrid(), &parse(&args(&["sub/a"])).unwrap()).unwrap();
        assert_eq!(
            dirs(&p),
            ["/sys/fs/cgroup/cpu,cpuacct/c/id/sub/a", "/sys/fs/cgroup/memory/c/id/sub/a", "/sys/fs/cgroup/unified/c/id/sub/a"]
        );
        assert_eq!(p.path, "/c/id/sub/a");
    }

    #[test]
    fn a_sub_cgroup_of_a_systemd_scope_is_written_through_cgroupfs() {
        let scope = CgroupState {
            driver: Driver::Systemd,
            path: "system.slice:youki:id".into(),
            dirs: vec![CgroupDir {
                hierarchy: Hierarchy::new("/sys/fs/cgroup", &["memory"], true),
                dir: PathBuf::from("/sys/fs/cgroup/system.slice/youki-id.scope"),
            }],
        };
        let p = place(&scope, &parse(&args(&["sub"])).unwrap()).unwrap();
        assert_eq!(p.driver, Driver::V2);
        assert_eq!(dirs(&p), ["/sys/fs/cgroup/system.slice/youki-id.scope/sub"]);
        // The scope itself stays systemd's.
        assert_eq!(place(&scope, &parse(&args(&["/"])).unwrap()).unwrap().driver, Driver::Systemd);
    }

    #[test]
    fn controller_paths_win_over_the_bare_one() {
        let p = place(&hybrid(), &parse(&args(&["memory:m", "all"])).unwrap()).unwrap();
        assert_eq!(dirs(&p), ["/sys/fs/cgroup/cpu,cpuacct/c/id/all", "/sys/fs/cgroup/memory/c/id/m", "/sys/fs/cgroup/unified/c/id/all"]);
        // Without a bare path the other hierarchies keep the container's cgroup.
        let p = place(&hybrid(), &parse(&args(&["memory:m"])).unwrap()).unwrap();
        assert_eq!(dirs(&p), ["/sys/fs/cgroup/cpu,cpuacct/c/id", "/sys/fs/cgroup/memory/c/id/m", "/sys/fs/cgroup/unified/c/id"]);
        // "/" is the container's own cgroup.
        let p = place(&hybrid(), &parse(&args(&["/"])).unwrap()).unwrap();
        assert_eq!(p, hybrid());
    }

    #[test]
    fn refuses_what_the_hierarchies_cannot_take() {
        let sub = parse(&args(&["rdma:x"])).unwrap();
        assert_eq!(place(&hybrid(), &sub), Err(SubCgroupError::UnknownController("rdma".into())));
        let sub = parse(&args(&["cpu:x", "cpuacct:y"])).unwrap();
        assert_eq!(place(&hybrid(), &sub), Err(SubCgroupError::SharedHierarchy("cpu,cpuacct".into())));
        let v2 = CgroupState { driver: Driver::V2, path: "/c/id".into(), dirs: vec![dir("/sys/fs/cgroup", &["cpu", "memory"], true)] };
        assert_eq!(place(&v2, &parse(&args(&["memory:x"])).unwrap()), Err(SubCgroupError::ControllersOnV2));
        assert_eq!(dirs(&place(&v2, &parse(&args(&["x"])).unwrap()).unwrap()), ["/sys/fs/cgroup/c/id/x"]);
    }

    #[test]
    fn the_v2_fallback_is_the_init_cgroup_below_the_container() {
        let v2 = CgroupState { driver: Driver::V2, path: "/c/id".into(), dirs: vec![dir("/sys/fs/cgroup", &["memory"], true)] };
        let p = init_fallback(&v2, "0::/c/id/init.scope\n").unwrap();
        assert_eq!(dirs(&p), ["/sys/fs/cgroup/c/id/init.scope"]);
        // On a hybrid host only the cgroup2 directory moves.
        let p = init_fallback(&hybrid(), "1:cpu,cpuacct:/c/id\n0::/c/id/init.scope\n").unwrap();
        assert_eq!(dirs(&p), ["/sys/fs/cgroup/cpu,cpuacct/c/id", "/sys/fs/cgroup/memory/c/id", "/sys/fs/cgroup/unified/c/id/init.scope"]);
        // Init in the container's own cgroup, outside it, or no v2 line: no fallback.
        assert_eq!(init_fallback(&v2, "0::/c/id\n"), None);
        assert_eq!(init_fallback(&v2, "0::/elsewhere\n"), None);
        assert_eq!(init_fallback(&v2, "0::/c/id/../x\n"), None);
        assert_eq!(init_fallback(&v2, "3:memory:/c/id/x\n"), None);
    }

    #[test]
    fn busy_is_ebusy_on_a_write() {
        let write = |errno| libcgroups::CgroupError::Write {
            path: "/x/cgroup.procs".into(),
            value: "1".into(),
            source: std::io::Error::from_raw_os_error(errno),
        };
        assert!(is_busy(&write(libc::EBUSY)));
        assert!(!is_busy(&write(libc::ENOENT)));
    }

    #[test]
    fn a_missing_sub_cgroup_is_named() {
        let mut s = hybrid();
        s.dirs[0].dir = PathBuf::from("/nonexistent/cgroup/dir");
        assert_eq!(check_exists(&s), Err(SubCgroupError::Missing(PathBuf::from("/nonexistent/cgroup/dir"))));
    }
}
