//! Reads /proc/self/mountinfo: which mount a path lives on.

use std::path::{Path, PathBuf};

/// Undoes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount that holds `path`: the longest mount point that is a prefix of it, component by
/// component, and whether that mount is shared (has a `shared:N` optional field).
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<(PathBuf, bool)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(' ').collect();
            let mp = PathBuf::from(unescape(fields.get(4)?));
            let optional_end = fields.iter().position(|f| *f == "-")?;
            let shared = fields.get(6..optional_end)?.iter().any(|f| f.starts_with("shared:"));
            Some((mp, shared))
        })
        .filter(|(mp, _)| path.starts_with(mp))
        .max_by_key(|(mp, _)| mp.components().count())
}

/// Every mount point in `mountinfo` strictly below `dir`, deepest first (the order to
/// unmount them in).
pub fn mounts_below(mountinfo: &str, dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|f| PathBuf::from(unescape(f))))
        .filter(|mp| mp.starts_with(dir) && mp != dir)
        .collect();
    found.sort_by_key(|mp| std::cmp::Reverse(mp.components().count()));
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw\n\
        30 22 0:25 / /tmp rw shared:5 - tmpfs tmpfs rw\n\
        31 30 0:26 / /tmp/with\\040space rw - tmpfs tmpfs rw\n\
        32 22 0:27 / /tmpx rw - tmpfs tmpfs rw\n";

    #[test]
    fn longest_component_prefix_wins() {
        assert_eq!(mount_of(INFO, Path::new("/tmp/b/rootfs")), Some((PathBuf::from("/tmp"), true)));
        assert_eq!(mount_of(INFO, Path::new("/tmpx/r")), Some((PathBuf::from("/tmpx"), false)));
        assert_eq!(mount_of(INFO, Path::new("/tmp/with space/r")), Some((PathBuf::from("/tmp/with space"), false)));
        assert_eq!(mount_of(INFO, Path::new("/var/lib")), Some((PathBuf::from("/"), true)));
    }

    #[test]
    fn mounts_below_a_directory_deepest_first() {
        assert_eq!(mounts_below(INFO, Path::new("/tmp")), vec![PathBuf::from("/tmp/with space")]);
        assert_eq!(mounts_below(INFO, Path::new("/")).first(), Some(&PathBuf::from("/tmp/with space")));
        assert!(mounts_below(INFO, Path::new("/tmpx")).is_empty());
    }
}
