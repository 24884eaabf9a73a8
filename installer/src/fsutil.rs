//! Small filesystem helpers that every writer shares: atomic replace and content hashes.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::HostError;

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a file, or None when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, HostError> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Removes a file; a missing file is fine.
pub fn remove_optional(path: &Path) -> Result<(), HostError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(HostError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> HostError + '_ {
    move |source| HostError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `path` with `bytes` atomically: a temp file in the same directory, fsync,
/// rename over the target, fsync of the directory. A process running the old file keeps
/// its inode, so replacing a running binary never fails with ETXTBSY.
pub fn replace_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HostError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.youki-installer.{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)
            .map_err(write_err(&tmp))?;
        file.write_all(bytes).map_err(write_err(&tmp))?;
        file.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(write_err(&tmp))?;
        file.sync_all().map_err(write_err(&tmp))?;
        fs::rename(&tmp, path).map_err(write_err(path))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(write_err(dir))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Mode of an existing file, or `default` when it does not exist.
pub fn mode_or(path: &Path, default: u32) -> u32 {
    fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(default)
}

/// `host_path` (absolute, as the host sees it) resolved under the mounted host root.
pub fn under(host_root: &Path, host_path: &Path) -> PathBuf {
    host_root.join(host_path.strip_prefix("/").unwrap_or(host_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_keeps_no_temp_file_and_sets_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bin/tool");
        replace_atomically(&path, b"one", 0o755).expect("first write");
        replace_atomically(&path, b"two", 0o755).expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"two");
        assert_eq!(mode_or(&path, 0), 0o755);
        assert_eq!(
            fs::read_dir(dir.path().join("bin")).expect("list").count(),
            1
        );
    }

    #[test]
    fn under_strips_the_leading_slash() {
        assert_eq!(
            under(Path::new("/host"), Path::new("/etc/x")),
            PathBuf::from("/host/etc/x")
        );
        assert_eq!(
            under(Path::new("/"), Path::new("/etc/x")),
            PathBuf::from("/etc/x")
        );
    }
}
