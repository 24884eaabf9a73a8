//! Parses the `options` list of an OCI mount into mount(2) flags, propagation changes,
//! recursive mount_setattr attributes and the leftover filesystem data string. Pure.

use nix::mount::MsFlags;

/// Recursive attributes applied with mount_setattr(AT_RECURSIVE) after the mount.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecursiveAttrs {
    pub set: u64,
    pub clear: u64,
}

impl RecursiveAttrs {
    pub fn is_empty(&self) -> bool {
        self.set == 0 && self.clear == 0
    }
}

// Values of MOUNT_ATTR_* from linux/mount.h.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
pub const MOUNT_ATTR_RELATIME: u64 = 0x0;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

/// The parsed form of a mount's options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Flags to set on mount(2).
    pub flags: MsFlags,
    /// Flags explicitly cleared by an option such as `rw` or `suid`.
    pub cleared: MsFlags,
    /// Propagation changes, applied in order after the mount.
    pub propagation: Vec<MsFlags>,
    /// Recursive attributes (`rro`, `rnosuid`, ...).
    pub recursive: RecursiveAttrs,
    /// Filesystem-specific data, comma joined (`mode=755,size=64k`).
    pub data: String,
    /// `bind` or `rbind` was given.
    pub bind: bool,
    /// `rbind` was given.
    pub recursive_bind: bool,
    /// `idmap` or `ridmap` was given: the mount gets an id mapping (see `idmap`).
    pub idmap: bool,
    /// `ridmap` was given: the mapping covers every submount too.
    pub recursive_idmap: bool,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            cleared: MsFlags::empty(),
            propagation: Vec::new(),
            recursive: RecursiveAttrs::default(),
            data: String::new(),
            bind: false,
            recursive_bind: false,
            idmap: false,
            recursive_idmap: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MountOptionError {
    #[error("mount option {0:?} is not supported yet")]
    Unsupported(String),
    #[error(transparent)]
    Idmap(#[from] crate::plan::idmap::IdmapError),
}

/// Parses OCI mount options. Unknown options are passed to the filesystem as data, as
/// mount(8) does.
pub fn parse(options: &[String]) -> Result<MountOptions, MountOptionError> {
    let mut out = MountOptions::default();
    let mut data: Vec<&str> = Vec::new();
    for opt in options {
        let o = opt.as_str();
        if let Some((set, flag)) = flag_option(o) {
            if set {
                out.flags.insert(flag);
                out.cleared.remove(flag);
            } else {
                out.flags.remove(flag);
                out.cleared.insert(flag);
            }
            continue;
        }
        if let Some(p) = propagation_option(o) {
            out.propagation.push(p);
            continue;
        }
        if let Some((set, attr)) = recursive_option(o) {
            if attr & MOUNT_ATTR_ATIME_MASK != 0 || o == "rrelatime" {
                // The kernel wants the whole atime field cleared when any of it changes.
                out.recursive.clear |= MOUNT_ATTR_ATIME_MASK;
                out.recursive.set &= !MOUNT_ATTR_ATIME_MASK;
                if set {
                    out.recursive.set |= attr;
                }
            } else if set {
                out.recursive.set |= attr;
                out.recursive.clear &= !attr;
            } else {
                out.recursive.clear |= attr;
                out.recursive.set &= !attr;
            }
            continue;
        }
        match o {
            "bind" => out.bind = true,
            "rbind" => {
                out.bind = true;
                out.recursive_bind = true;
            }
            // A podman/crun extension for tmpfs; harmless to ignore.
            "tmpcopyup" => {}
            // Not for mount(2): `idmap` plans the mapping.
            "idmap" => out.idmap = true,
            "ridmap" => {
                out.idmap = true;
                out.recursive_idmap = true;
            }
            "" => {}
            _ => data.push(o),
        }
    }
    out.data = data.join(",");
    Ok(out)
}

/// Options that set (`true`) or clear (`false`) one mount(2) flag.
fn flag_option(o: &str) -> Option<(bool, MsFlags)> {
    Some(match o {
        "ro" => (true, MsFlags::MS_RDONLY),
        "rw" => (false, MsFlags::MS_RDONLY),
        "nosuid" => (true, MsFlags::MS_NOSUID),
        "suid" => (false, MsFlags::MS_NOSUID),
        "nodev" => (true, MsFlags::MS_NODEV),
        "dev" => (false, MsFlags::MS_NODEV),
        "noexec" => (true, MsFlags::MS_NOEXEC),
        "exec" => (false, MsFlags::MS_NOEXEC),
        "sync" => (true, MsFlags::MS_SYNCHRONOUS),
        "async" => (false, MsFlags::MS_SYNCHRONOUS),
        "dirsync" => (true, MsFlags::MS_DIRSYNC),
        "remount" => (true, MsFlags::MS_REMOUNT),
        "mand" => (true, MsFlags::MS_MANDLOCK),
        "nomand" => (false, MsFlags::MS_MANDLOCK),
        "noatime" => (true, MsFlags::MS_NOATIME),
        "atime" => (false, MsFlags::MS_NOATIME),
        "nodiratime" => (true, MsFlags::MS_NODIRATIME),
        "diratime" => (false, MsFlags::MS_NODIRATIME),
        "relatime" => (true, MsFlags::MS_RELATIME),
        "norelatime" => (false, MsFlags::MS_RELATIME),
        "strictatime" => (true, MsFlags::MS_STRICTATIME),
        "nostrictatime" => (false, MsFlags::MS_STRICTATIME),
        "silent" => (true, MsFlags::MS_SILENT),
        "loud" => (false, MsFlags::MS_SILENT),
        _ => return None,
    })
}

fn propagation_option(o: &str) -> Option<MsFlags> {
    Some(match o {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

fn recursive_option(o: &str) -> Option<(bool, u64)> {
    Some(match o {
        "rro" => (true, MOUNT_ATTR_RDONLY),
        "rrw" => (false, MOUNT_ATTR_RDONLY),
        "rnosuid" => (true, MOUNT_ATTR_NOSUID),
        "rsuid" => (false, MOUNT_ATTR_NOSUID),
        "rnodev" => (true, MOUNT_ATTR_NODEV),
        "rdev" => (false, MOUNT_ATTR_NODEV),
        "rnoexec" => (true, MOUNT_ATTR_NOEXEC),
        "rexec" => (false, MOUNT_ATTR_NOEXEC),
        "rnodiratime" => (true, MOUNT_ATTR_NODIRATIME),
        "rdiratime" => (false, MOUNT_ATTR_NODIRATIME),
        "rrelatime" => (true, MOUNT_ATTR_RELATIME),
        "rnorelatime" => (false, MOUNT_ATTR_ATIME_MASK),
        "rnoatime" => (true, MOUNT_ATTR_NOATIME),
        "ratime" => (false, MOUNT_ATTR_NOATIME),
        "rstrictatime" => (true, MOUNT_ATTR_STRICTATIME),
        "rnostrictatime" => (false, MOUNT_ATTR_STRICTATIME),
        _ => return None,
    })
}

/// Parses a propagation name as used by `linux.rootfsPropagation`.
pub fn rootfs_propagation(name: &str) -> Option<MsFlags> {
    propagation_option(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> MountOptions {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_and_data_are_split() {
        let o = opts(&["nosuid", "noexec", "nodev", "mode=755", "size=65536k"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV);
        assert_eq!(o.data, "mode=755,size=65536k");
        assert!(!o.bind);
    }

    #[test]
    fn later_option_wins() {
        let o = opts(&["ro", "rw"]);
        assert!(!o.flags.contains(MsFlags::MS_RDONLY));
        assert!(o.cleared.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn rbind_is_a_recursive_bind() {
        let o = opts(&["rbind", "ro"]);
        assert!(o.bind && o.recursive_bind);
        assert!(o.flags.contains(MsFlags::MS_RDONLY));
    }

    #[test]
    fn propagation_kept_in_order() {
        let o = opts(&["bind", "rprivate", "shared"]);
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SHARED]);
    }

    #[test]
    fn recursive_attributes() {
        let o = opts(&["rbind", "rro", "rnosuid"]);
        assert_eq!(o.recursive.set, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID);
        let o = opts(&["rnoatime"]);
        assert_eq!(o.recursive.set, MOUNT_ATTR_NOATIME);
        assert_eq!(o.recursive.clear, MOUNT_ATTR_ATIME_MASK);
    }

    #[test]
    fn idmap_and_ridmap_are_ours_not_the_filesystems() {
        let o = opts(&["rbind", "idmap"]);
        assert!(o.idmap && !o.recursive_idmap && o.data.is_empty());
        let o = opts(&["bind", "ridmap"]);
        assert!(o.idmap && o.recursive_idmap && o.data.is_empty());
        assert!(!opts(&["rbind"]).idmap);
    }

    #[test]
    fn rootfs_propagation_names() {
        assert_eq!(rootfs_propagation("rslave"), Some(MsFlags::MS_SLAVE | MsFlags::MS_REC));
        assert_eq!(rootfs_propagation("bogus"), None);
    }
}
