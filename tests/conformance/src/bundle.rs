//! An OCI bundle on disk: a busybox rootfs with the checker at /checker, and config.json.

use anyhow::{Context, Result};
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// busybox applets the cases call inside the container.
const APPLETS: [&str; 24] = [
    "sh", "true", "false", "sleep", "cat", "ls", "echo", "kill", "hostname", "id", "readlink", "stat", "touch", "env", "tr", "date",
    "mkdir", "rm", "grep", "mount", "printf", "test", "sync", "dd",
];

/// The files every rootfs is made from.
#[derive(Debug, Clone)]
pub struct Assets {
    pub busybox: PathBuf,
    pub checker: PathBuf,
}

#[derive(Debug)]
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// Creates `dir` with a fresh rootfs; `config` is written by `write`.
    pub fn create(dir: PathBuf, assets: &Assets, config: Value) -> Result<Bundle> {
        let rootfs = dir.join("rootfs");
        for sub in ["bin", "proc", "dev", "sys", "etc", "root", "mnt", "tmp"] {
            make_dir(&rootfs.join(sub))?;
        }
        fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).context("chmod rootfs/tmp")?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).context("chmod bundle")?;
        link_or_copy(&assets.busybox, &rootfs.join("bin/busybox"))?;
        for applet in APPLETS {
            let link = rootfs.join("bin").join(applet);
            symlink("busybox", &link).with_context(|| format!("symlink {}", link.display()))?;
        }
        link_or_copy(&assets.checker, &rootfs.join("checker"))?;
        fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").context("writing etc/passwd")?;
        fs::write(rootfs.join("etc/group"), "root:x:0:\n").context("writing etc/group")?;
        Ok(Bundle { dir, config })
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }

    pub fn write(&self) -> Result<()> {
        let text = serde_json::to_string_pretty(&self.config).context("serializing config.json")?;
        fs::write(self.config_path(), text).with_context(|| format!("writing {}", self.config_path().display()))
    }
}

/// Creates a directory (and parents) readable by everyone, so a user-namespaced container
/// whose root maps to an unprivileged host uid can still reach its rootfs.
pub fn make_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("mkdir {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).with_context(|| format!("chmod {}", path.display()))
}

/// Hard-links a read-only asset into a rootfs, copying when the link is impossible.
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    fs::copy(from, to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(0o755)).with_context(|| format!("chmod {}", to.display()))
}
