//! What the installer remembers between install and uninstall, for each file it edits:
//! the original bytes (saved once, on the first change) and the hash of what it wrote.
//! Uninstall restores the original byte for byte when the file still holds exactly what the
//! installer wrote; if someone changed it since, their change is kept and only our handler
//! is removed.

use std::path::{Path, PathBuf};

use crate::error::HostError;
use crate::fsutil::sha256;
use crate::hostfs::HostRoot;

/// The ledger of one edited file, kept in the installer's state directory (host paths,
/// reached through the host root like every other host file).
pub struct Ledger<'a> {
    host: &'a HostRoot,
    original: PathBuf,
    absent: PathBuf,
    installed: PathBuf,
}

/// What was recorded before the first change.
#[derive(Debug, PartialEq, Eq)]
pub enum Original {
    /// No backup: the installer never changed this file.
    Unknown,
    /// The file did not exist.
    Absent,
    /// The file's bytes.
    Bytes(Vec<u8>),
}

impl<'a> Ledger<'a> {
    /// The ledger of `host_path` under `state_dir`, both as the host sees them.
    pub fn new(host: &'a HostRoot, state_dir: &Path, host_path: &Path) -> Self {
        let key: String = host_path.to_string_lossy().trim_start_matches('/').chars().map(|c| if c == '/' { '_' } else { c }).collect();
        Ledger {
            host,
            original: state_dir.join(format!("{key}.orig")),
            absent: state_dir.join(format!("{key}.absent")),
            installed: state_dir.join(format!("{key}.installed-sha256")),
        }
    }

    /// Saves the original once: a second call keeps the first backup.
    pub fn back_up_once(&self, current: Option<&[u8]>) -> Result<(), HostError> {
        if self.original()? != Original::Unknown {
            return Ok(());
        }
        match current {
            Some(bytes) => self.host.replace_atomically(&self.original, bytes, 0o600),
            None => self.host.replace_atomically(&self.absent, b"", 0o600),
        }
    }

    /// Records the bytes the installer wrote.
    pub fn record_installed(&self, written: &[u8]) -> Result<(), HostError> {
        self.host.replace_atomically(&self.installed, format!("{}\n", sha256(written)).as_bytes(), 0o600)
    }

    /// The saved original.
    pub fn original(&self) -> Result<Original, HostError> {
        if let Some(bytes) = self.host.read_optional(&self.original)? {
            return Ok(Original::Bytes(bytes));
        }
        if self.host.exists(&self.absent) {
            return Ok(Original::Absent);
        }
        Ok(Original::Unknown)
    }

    /// Whether `current` is exactly what the installer last wrote.
    pub fn is_ours(&self, current: Option<&[u8]>) -> Result<bool, HostError> {
        let recorded = self.host.read_optional(&self.installed)?;
        Ok(match (recorded, current) {
            (Some(r), Some(c)) => String::from_utf8_lossy(&r).trim() == sha256(c),
            _ => false,
        })
    }

    /// Forgets the file, after a completed uninstall.
    pub fn clear(&self) -> Result<(), HostError> {
        for p in [&self.original, &self.absent, &self.installed] {
            self.host.remove_optional(p)?;
        }
        Ok(())
    }

    /// Whether anything is recorded.
    pub fn exists(&self) -> bool {
        self.original.exists() || self.host.exists(&self.absent) || self.installed.exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_up_only_the_first_original() {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = HostRoot::open(dir.path()).expect("host root");
        let ledger = Ledger::new(&host, Path::new("/opt/youki/installer"), Path::new("/etc/containerd/config.toml"));
        assert_eq!(ledger.original().expect("read"), Original::Unknown);
        ledger.back_up_once(Some(b"first")).expect("backup");
        ledger.back_up_once(Some(b"second")).expect("backup again");
        assert_eq!(ledger.original().expect("read"), Original::Bytes(b"first".to_vec()));
        ledger.record_installed(b"ours").expect("record");
        assert!(ledger.is_ours(Some(b"ours")).expect("ours"));
        assert!(!ledger.is_ours(Some(b"edited")).expect("edited"));
        ledger.clear().expect("clear");
        assert!(!ledger.exists());
    }
}
