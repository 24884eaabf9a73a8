//! Resolves a container path against the rootfs the way the container would see it:
//! symlinks are followed, but absolute targets and `..` never leave the rootfs.

use std::io;
use std::path::{Component, Path, PathBuf};

const MAX_SYMLINKS: usize = 255;

/// Returns the host path under `root` that `path` (a container path) refers to. Components
/// that do not exist yet are kept as they are.
pub fn in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::new(); // relative to root, always clean
    let mut pending: Vec<std::ffi::OsString> = components(path);
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        let host = root.join(&candidate);
        match std::fs::symlink_metadata(&host) {
            Ok(md) if md.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = std::fs::read_link(&host)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                let mut more = components(&target);
                more.reverse();
                pending.extend(more);
            }
            _ => resolved = candidate,
        }
    }
    Ok(root.join(resolved))
}

fn components(p: &Path) -> Vec<std::ffi::OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn symlinks_stay_inside() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        symlink("/real", root.join("abs")).unwrap();
        symlink("../../../../etc", root.join("real/escape")).unwrap();
        assert_eq!(in_root(root, Path::new("/abs/dir")).unwrap(), root.join("real/dir"));
        assert_eq!(in_root(root, Path::new("/real/escape/passwd")).unwrap(), root.join("etc/passwd"));
        assert_eq!(in_root(root, Path::new("/../../x")).unwrap(), root.join("x"));
        assert_eq!(in_root(root, Path::new("/new/path")).unwrap(), root.join("new/path"));
    }

    #[test]
    fn loops_are_refused() {
        let d = tempfile::tempdir().unwrap();
        symlink("/b", d.path().join("a")).unwrap();
        symlink("/a", d.path().join("b")).unwrap();
        assert_eq!(in_root(d.path(), Path::new("/a/x")).unwrap_err().raw_os_error(), Some(libc::ELOOP));
    }
}
