//! Content hashes, and host paths joined under the mounted host root (only for what is
//! reached by path, such as the D-Bus socket; files go through `hostfs`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `host_path` (absolute, as the host sees it) resolved under the mounted host root.
pub fn under(host_root: &Path, host_path: &Path) -> PathBuf {
    host_root.join(host_path.strip_prefix("/").unwrap_or(host_path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_strips_the_leading_slash() {
        assert_eq!(under(Path::new("/host"), Path::new("/etc/x")), PathBuf::from("/host/etc/x"));
        assert_eq!(under(Path::new("/"), Path::new("/etc/x")), PathBuf::from("/etc/x"));
    }
}
