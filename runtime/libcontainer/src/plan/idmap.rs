//! Idmapped mounts, the plan (pure): which bind mounts get an id mapping (runtime-spec 1.2
//! options `idmap`/`ridmap`, `mounts[].uidMappings` and `gidMappings`), and from which user
//! namespace the kernel takes it. `idmap_tree` makes the mounts.
//!
//! Rules, from config.md "Mounts":
//! - `idmap` maps the mount itself, `ridmap` every submount too (an `rbind` has some).
//! - The mount's own `uidMappings`/`gidMappings` win; they come in pairs, sizes above zero.
//! - Without them the container's user namespace gives the mapping; a container without a
//!   user namespace (new or joined) is an error.
//! - Only bind mounts are idmapped here (features-linux.md allows such a partial
//!   implementation); another type asking for it is an error.
//! - Mappings without `idmap` or `ridmap` are taken as `idmap`, as runc does: config.md only
//!   says the option SHOULD be there, and a runtime that reads the mappings must not drop them.
//!
//! Where the namespace comes from is decided here, before the first syscall: the container's
//! own (a new one, or the one it joins by path) when the mount's mapping is the container's,
//! else a throwaway namespace made for this mount alone (`Userns::Own`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIdMapping;

use crate::plan::mount_options::MountOptions;
use crate::plan::{IdMap, IdMaps};

/// One mount's `uidMappings` and `gidMappings` as config.json gives them. oci-spec 0.8's
/// `Mount` has no such fields, so `from_config` reads them from the raw JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountMappings {
    pub uid: Option<Vec<IdMap>>,
    pub gid: Option<Vec<IdMap>>,
}

/// How one mount is idmapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idmap {
    /// `ridmap`: every submount gets the mapping too (mount_setattr with AT_RECURSIVE).
    pub recursive: bool,
    pub userns: Userns,
}

/// The user namespace whose mapping the mount takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Userns {
    /// The container's new user namespace (init's, once its maps are written).
    Container,
    /// The user namespace the container joins, by its path.
    Joined(PathBuf),
    /// A namespace of its own with these maps, made for the mount and then dropped.
    Own(IdMaps),
}

/// The container's user namespace, as `plan` decided it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerUserns<'a> {
    None,
    New(&'a IdMaps),
    /// Joined by path, with the mappings config.json gives for it (checked by init).
    Joined(&'a Path, Option<&'a IdMaps>),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdmapError {
    #[error("{field}: {why}")]
    Malformed { field: &'static str, why: String },
    #[error("{given} needs {missing} as well")]
    Unpaired { given: &'static str, missing: &'static str },
    #[error("{field}: size must be greater than zero")]
    EmptyMapping { field: &'static str },
    #[error("only bind mounts can be idmapped")]
    NotBind,
    #[error("idmap without uidMappings and gidMappings needs a user namespace in the container")]
    NoUserNs,
}

/// Reads every mount's `uidMappings` and `gidMappings` from config.json, one entry per mount
/// in order. The error comes with the destination of the mount it is about.
pub fn from_config(config: &serde_json::Value) -> Result<Vec<MountMappings>, (PathBuf, IdmapError)> {
    let mut out = Vec::new();
    for m in config.get("mounts").and_then(|m| m.as_array()).into_iter().flatten() {
        let dest = || PathBuf::from(m.get("destination").and_then(|d| d.as_str()).unwrap_or_default());
        let uid = field(m, "uidMappings").map_err(|e| (dest(), e))?;
        let gid = field(m, "gidMappings").map_err(|e| (dest(), e))?;
        out.push(MountMappings { uid, gid });
    }
    Ok(out)
}

fn field(mount: &serde_json::Value, name: &'static str) -> Result<Option<Vec<IdMap>>, IdmapError> {
    let Some(v) = mount.get(name).filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let list: Vec<LinuxIdMapping> =
        serde_json::from_value(v.clone()).map_err(|e| IdmapError::Malformed { field: name, why: e.to_string() })?;
    Ok(Some(list.iter().map(|m| IdMap { container: m.container_id(), host: m.host_id(), size: m.size() }).collect()))
}

/// The container's user namespace from `plan`'s decisions: new (with its maps), joined by
/// path (with the maps config.json says it has), or none.
pub fn container_userns<'a>(
    id_maps: Option<&'a IdMaps>,
    joined_maps: Option<&'a IdMaps>,
    joins: &'a [crate::namespaces::NamespaceJoin],
) -> ContainerUserns<'a> {
    if let Some(maps) = id_maps {
        return ContainerUserns::New(maps);
    }
    match joins.iter().find(|j| j.kind == crate::namespaces::NsKind::User) {
        Some(j) => ContainerUserns::Joined(&j.path, joined_maps),
        None => ContainerUserns::None,
    }
}

/// Plans one mount's idmapping: None when it has none.
pub fn plan_mount(
    is_bind: bool,
    options: &MountOptions,
    given: &MountMappings,
    container: ContainerUserns,
) -> Result<Option<Idmap>, IdmapError> {
    // An empty list is the same as none: there is nothing to map with.
    let uid = given.uid.as_ref().filter(|l| !l.is_empty());
    let gid = given.gid.as_ref().filter(|l| !l.is_empty());
    if !options.idmap && uid.is_none() && gid.is_none() {
        return Ok(None);
    }
    if !is_bind {
        return Err(IdmapError::NotBind);
    }
    let userns = match (uid, gid) {
        (Some(_), None) => return Err(IdmapError::Unpaired { given: "uidMappings", missing: "gidMappings" }),
        (None, Some(_)) => return Err(IdmapError::Unpaired { given: "gidMappings", missing: "uidMappings" }),
        (Some(uid), Some(gid)) => {
            for (field, list) in [("uidMappings", uid), ("gidMappings", gid)] {
                if list.iter().any(|m| m.size == 0) {
                    return Err(IdmapError::EmptyMapping { field });
                }
            }
            let maps = IdMaps { uid: uid.clone(), gid: gid.clone() };
            match container {
                ContainerUserns::New(own) if *own == maps => Userns::Container,
                // The joined namespace has these maps (init checks it does): it gives them,
                // as containerd 2.1 asks for a user-namespaced pod's volumes.
                ContainerUserns::Joined(path, Some(own)) if *own == maps => Userns::Joined(path.to_path_buf()),
                _ => Userns::Own(maps),
            }
        }
        (None, None) => match container {
            ContainerUserns::New(_) => Userns::Container,
            ContainerUserns::Joined(path, _) => Userns::Joined(path.to_path_buf()),
            ContainerUserns::None => return Err(IdmapError::NoUserNs),
        },
    };
    Ok(Some(Idmap { recursive: options.recursive_idmap, userns }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn opts(list: &[&str]) -> MountOptions {
        crate::plan::mount_options::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn map(container: u32, host: u32, size: u32) -> Vec<IdMap> {
        vec![IdMap { container, host, size }]
    }

    fn given(uid: Option<Vec<IdMap>>, gid: Option<Vec<IdMap>>) -> MountMappings {
        MountMappings { uid, gid }
    }

    fn container_maps() -> IdMaps {
        IdMaps { uid: map(0, 100000, 65536), gid: map(0, 100000, 65536) }
    }

    #[test]
    fn plain_mounts_are_not_idmapped() {
        let c = container_maps();
        assert_eq!(plan_mount(true, &opts(&["rbind"]), &given(None, None), ContainerUserns::New(&c)), Ok(None));
        assert_eq!(plan_mount(false, &opts(&[]), &given(None, None), ContainerUserns::None), Ok(None));
    }

    #[test]
    fn idmap_without_mappings_takes_the_containers_namespace() {
        let c = container_maps();
        let got = plan_mount(true, &opts(&["rbind", "idmap"]), &given(None, None), ContainerUserns::New(&c)).unwrap();
        assert_eq!(got, Some(Idmap { recursive: false, userns: Userns::Container }));
        let got = plan_mount(true, &opts(&["rbind", "ridmap"]), &given(Some(vec![]), Some(vec![])), ContainerUserns::New(&c)).unwrap();
        assert_eq!(got, Some(Idmap { recursive: true, userns: Userns::Container }));
        let joined = Path::new("/proc/42/ns/user");
        let got = plan_mount(true, &opts(&["bind", "idmap"]), &given(None, None), ContainerUserns::Joined(joined, None)).unwrap();
        assert_eq!(got, Some(Idmap { recursive: false, userns: Userns::Joined(joined.to_path_buf()) }));
    }

    #[test]
    fn idmap_without_mappings_or_user_namespace_is_an_error() {
        let e = plan_mount(true, &opts(&["bind", "idmap"]), &given(None, None), ContainerUserns::None).unwrap_err();
        assert_eq!(e.to_string(), "idmap without uidMappings and gidMappings needs a user namespace in the container");
    }

    #[test]
    fn the_mounts_own_mappings_win() {
        let c = container_maps();
        let own = given(Some(map(0, 1000, 10)), Some(map(0, 2000, 10)));
        let want = IdMaps { uid: map(0, 1000, 10), gid: map(0, 2000, 10) };
        let got = plan_mount(true, &opts(&["bind", "idmap"]), &own, ContainerUserns::New(&c)).unwrap();
        assert_eq!(got, Some(Idmap { recursive: false, userns: Userns::Own(want.clone()) }));
        // No user namespace in the container: the mount's own mappings are enough.
        let got = plan_mount(true, &opts(&["bind", "idmap"]), &own, ContainerUserns::None).unwrap();
        assert_eq!(got, Some(Idmap { recursive: false, userns: Userns::Own(want) }));
        // The container's own mapping spelled out: no namespace needs making.
        let same = given(Some(c.uid.clone()), Some(c.gid.clone()));
        let got = plan_mount(true, &opts(&["bind", "idmap"]), &same, ContainerUserns::New(&c)).unwrap();
        assert_eq!(got, Some(Idmap { recursive: false, userns: Userns::Container }));
    }

    #[test]
    fn the_joined_namespaces_own_mappings_take_it() {
        // containerd 2.1, hostUsers: false: the pod's namespace by path with its maps, and the
        // same maps on the volume, with no idmap option.
        let c = container_maps();
        let joined = Path::new("/proc/42/ns/user");
        let same = given(Some(c.uid.clone()), Some(c.gid.clone()));
        let got = plan_mount(true, &opts(&["rbind", "rprivate", "rw"]), &same, ContainerUserns::Joined(joined, Some(&c))).unwrap();
        assert_eq!(got, Some(Idmap { recursive: false, userns: Userns::Joined(joined.to_path_buf()) }));
        // Other maps, or a joined namespace whose maps config.json does not give: a namespace
        // of the mount's own.
        let other = given(Some(map(0, 1000, 10)), Some(map(0, 1000, 10)));
        let got = plan_mount(true, &opts(&["rbind"]), &other, ContainerUserns::Joined(joined, Some(&c))).unwrap().unwrap();
        assert!(matches!(got.userns, Userns::Own(_)));
        let got = plan_mount(true, &opts(&["rbind"]), &same, ContainerUserns::Joined(joined, None)).unwrap().unwrap();
        assert!(matches!(got.userns, Userns::Own(_)));
    }

    #[test]
    fn mappings_without_the_option_are_an_idmap() {
        let own = given(Some(map(0, 1000, 10)), Some(map(0, 1000, 10)));
        let got = plan_mount(true, &opts(&["rbind"]), &own, ContainerUserns::None).unwrap().unwrap();
        assert!(!got.recursive);
    }

    #[test]
    fn refusals_say_why() {
        let c = container_maps();
        let new = ContainerUserns::New(&c);
        let err = |bind: bool, o: &[&str], g: MountMappings| plan_mount(bind, &opts(o), &g, new).unwrap_err().to_string();
        assert_eq!(err(true, &["bind", "idmap"], given(Some(map(0, 1, 1)), None)), "uidMappings needs gidMappings as well");
        assert_eq!(err(true, &["bind"], given(None, Some(map(0, 1, 1)))), "gidMappings needs uidMappings as well");
        assert_eq!(
            err(true, &["bind", "idmap"], given(Some(map(0, 1, 0)), Some(map(0, 1, 1)))),
            "uidMappings: size must be greater than zero"
        );
        assert_eq!(
            err(true, &["bind", "idmap"], given(Some(map(0, 1, 1)), Some(map(0, 1, 0)))),
            "gidMappings: size must be greater than zero"
        );
        assert_eq!(err(false, &["idmap"], given(None, None)), "only bind mounts can be idmapped");
        assert_eq!(err(false, &[], given(Some(map(0, 1, 1)), Some(map(0, 1, 1)))), "only bind mounts can be idmapped");
    }

    #[test]
    fn mappings_are_read_per_mount_from_the_raw_config() {
        let raw = json!({"mounts": [
            {"destination": "/a"},
            {"destination": "/b", "uidMappings": [{"containerID": 0, "hostID": 5, "size": 2}], "gidMappings": null},
        ]});
        let got = from_config(&raw).unwrap();
        assert_eq!(got, vec![MountMappings::default(), given(Some(map(0, 5, 2)), None)]);
        let bad = json!({"mounts": [{"destination": "/c", "gidMappings": "x"}]});
        let (dest, e) = from_config(&bad).unwrap_err();
        assert_eq!(dest, PathBuf::from("/c"));
        assert!(e.to_string().starts_with("gidMappings: invalid type"), "{e}");
        assert!(from_config(&json!({})).unwrap().is_empty());
    }
}
