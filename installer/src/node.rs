//! Install, uninstall and status on one node: binaries, the runtime config and the ledger,
//! under the host lock. Restarting the container manager and labelling the node are left to
//! the caller, which gets told whether the config changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{self, Layout};
use crate::error::{ConfigError, HostError};
use crate::fsutil::{mode_or, read_optional, remove_optional, replace_atomically, sha256, under};
use crate::handler::Handler;
use crate::ledger::{remove_dir_if_empty, Ledger, Original};
use crate::locate::Target;
use crate::lock::HostLock;

/// Where the installer keeps its ledger on the host.
pub const STATE_DIR: &str = "/opt/youki/installer";
/// The host lock, on the host's /run so a reboot clears it.
pub const LOCK_PATH: &str = "/run/youki-installer.lock";

/// Everything install and uninstall need to know.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the host's root filesystem is mounted (`/` when run on the host).
    pub host_root: PathBuf,
    pub target: Target,
    pub handler: Handler,
    /// Binaries to place, as paths in the installer's own filesystem.
    pub binaries: Vec<PathBuf>,
    /// Print what would change, change nothing.
    pub dry_run: bool,
    /// Uninstall even while youki containers still run.
    pub force: bool,
}

/// What a step did, for the log and for the caller's restart decision.
#[derive(Debug, Default)]
pub struct Outcome {
    pub messages: Vec<String>,
    pub config_changed: bool,
}

impl Node {
    fn host(&self, p: &Path) -> PathBuf {
        under(&self.host_root, p)
    }

    fn bin_dir(&self) -> PathBuf {
        Path::new(&self.handler.binary)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("/opt/youki/bin"))
    }

    fn ledger(&self) -> Ledger {
        Ledger::new(&self.host(Path::new(STATE_DIR)), &self.target.path)
    }

    fn lock(&self) -> Result<Option<HostLock>, HostError> {
        if self.dry_run {
            return Ok(None);
        }
        HostLock::acquire(&self.host(Path::new(LOCK_PATH)), Duration::from_secs(120)).map(Some)
    }

    fn read_text(&self, host_path: &Path) -> Result<Option<String>, HostError> {
        let full = self.host(host_path);
        Ok(read_optional(&full)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Checks that what is about to be written still parses, before anything restarts.
    fn reparse(&self, text: &str) -> Result<(), ConfigError> {
        let path = self.target.path.as_path();
        match self.target.layout {
            Layout::Template => {
                let masked: String = text
                    .lines()
                    .filter(|l| !l.contains("{{"))
                    .collect::<Vec<_>>()
                    .join("\n");
                config::parse_config(path, &masked).map(|_| ())
            }
            Layout::Crio => text
                .parse::<toml_edit::DocumentMut>()
                .map(|_| ())
                .map_err(|e| ConfigError::Parse {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                }),
            _ => config::parse_config(path, text).map(|_| ()),
        }
    }

    /// Places the binaries and adds the handler. Idempotent.
    pub fn install(&self) -> Result<Outcome, HostError> {
        let _lock = self.lock()?;
        let mut out = Outcome::default();
        let current = self.read_text(&self.target.path)?;
        let context = match &self.target.context {
            Some(p) => self.read_text(p)?,
            None => None,
        };
        if let (Layout::InPlace, Some(text)) = (&self.target.layout, current.as_deref()) {
            self.check_imports(text)?;
        }
        let new = config::install(
            &self.target.layout,
            &self.target.path,
            current.as_deref(),
            context.as_deref(),
            &self.handler,
        )?;
        // The config is computed (and a corrupt one refused) before anything on the host changes.
        let bin_dir = self.host(&self.bin_dir());
        for src in &self.binaries {
            let name = src.file_name().map(PathBuf::from).unwrap_or_default();
            let dest = bin_dir.join(&name);
            let bytes = std::fs::read(src).map_err(|source| HostError::Read {
                path: src.clone(),
                source,
            })?;
            let same = read_optional(&dest)?
                .map(|d| sha256(&d) == sha256(&bytes))
                .unwrap_or(false);
            if same {
                out.messages
                    .push(format!("{} is up to date", dest.display()));
            } else if self.dry_run {
                out.messages.push(format!("would place {}", dest.display()));
            } else {
                replace_atomically(&dest, &bytes, 0o755)?;
                out.messages.push(format!("placed {}", dest.display()));
            }
        }

        self.write_config(current.as_deref(), Some(&new), &mut out)?;
        Ok(out)
    }

    /// Refuses when an imported file would replace the CRI section the handler goes into.
    fn check_imports(&self, text: &str) -> Result<(), HostError> {
        let (_, schema) = config::parse_config(&self.target.path, text)?;
        for import in config::imports(&self.target.path, text)? {
            for file in self.expand(&import) {
                let Some(bytes) = read_optional(&self.host(&file))? else {
                    continue;
                };
                let imported = String::from_utf8_lossy(&bytes);
                if config::defines_cri_plugin(&file, &imported, schema)? {
                    return Err(ConfigError::ImportedCriSection {
                        import: file,
                        main: self.target.path.clone(),
                    }
                    .into());
                }
            }
        }
        Ok(())
    }

    /// An `imports` entry as host paths: relative to the config's directory, with a `*` in
    /// the file name matched against the directory's entries.
    fn expand(&self, import: &str) -> Vec<PathBuf> {
        let base = self.target.path.parent().unwrap_or(Path::new("/"));
        let path = base.join(import);
        let (Some(dir), Some(pattern)) = (path.parent(), path.file_name().and_then(|n| n.to_str()))
        else {
            return Vec::new();
        };
        if !pattern.contains('*') {
            return vec![path.clone()];
        }
        let Ok(entries) = std::fs::read_dir(self.host(dir)) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| wildcard(pattern, n))
            .map(|n| dir.join(n))
            .collect();
        found.sort();
        found
    }

    /// Writes the new config (None deletes the file), with a diff in dry-run mode.
    fn write_config(
        &self,
        current: Option<&str>,
        new: Option<&str>,
        out: &mut Outcome,
    ) -> Result<(), HostError> {
        let shown = self.target.path.display().to_string();
        if current == new {
            out.messages.push(format!("{shown} is up to date"));
            return Ok(());
        }
        if let Some(text) = new {
            self.reparse(text)?;
        }
        if self.dry_run {
            out.messages.push(crate::diff::unified(
                &shown,
                current.unwrap_or(""),
                new.unwrap_or(""),
            ));
            out.config_changed = true;
            return Ok(());
        }
        let full = self.host(&self.target.path);
        match new {
            Some(text) => {
                self.ledger().back_up_once(current.map(str::as_bytes))?;
                replace_atomically(&full, text.as_bytes(), mode_or(&full, 0o644))?;
                self.ledger().record_installed(text.as_bytes())?;
                out.messages.push(format!("updated {shown}"));
            }
            None => {
                remove_optional(&full)?;
                out.messages.push(format!("removed {shown}"));
            }
        }
        out.config_changed = true;
        Ok(())
    }

    /// Containers youki still manages: state directories under its root.
    pub fn running_containers(&self) -> Vec<PathBuf> {
        let root = self.host(Path::new(&self.handler.root));
        let mut found = Vec::new();
        let mut dirs = vec![(root, 0)];
        while let Some((dir, depth)) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.join("state.json").is_file() {
                    found.push(p);
                } else if depth < 2 && p.is_dir() {
                    dirs.push((p, depth + 1));
                }
            }
        }
        found.sort();
        found
    }

    /// Restores the config, removes the binaries and the ledger. Idempotent. Refuses while
    /// youki containers still run, unless `force`.
    pub fn uninstall(&self) -> Result<Outcome, HostError> {
        let running = self.running_containers();
        if !running.is_empty() && !self.force {
            return Err(HostError::InUse {
                count: running.len(),
                root: self.host(Path::new(&self.handler.root)),
            });
        }
        let _lock = self.lock()?;
        let mut out = Outcome::default();
        let ledger = self.ledger();
        let current = self.read_text(&self.target.path)?;
        let new = match ledger.original()? {
            Original::Bytes(orig) if ledger.is_ours(current.as_deref().map(str::as_bytes))? => {
                Some(String::from_utf8_lossy(&orig).into_owned())
            }
            Original::Absent if ledger.is_ours(current.as_deref().map(str::as_bytes))? => None,
            _ => match current.as_deref() {
                Some(text) => config::uninstall(
                    &self.target.layout,
                    &self.target.path,
                    text,
                    &self.handler.name,
                )?,
                None => None,
            },
        };
        self.write_config(current.as_deref(), new.as_deref(), &mut out)?;

        let bin_dir = self.host(&self.bin_dir());
        for src in &self.binaries {
            let name = src.file_name().map(PathBuf::from).unwrap_or_default();
            let dest = bin_dir.join(name);
            if !dest.exists() {
                continue;
            }
            if self.dry_run {
                out.messages
                    .push(format!("would remove {}", dest.display()));
            } else {
                remove_optional(&dest)?;
                out.messages.push(format!("removed {}", dest.display()));
            }
        }
        if !self.dry_run {
            ledger.clear()?;
            let state = self.host(Path::new(STATE_DIR));
            remove_dir_if_empty(&state);
            remove_dir_if_empty(&bin_dir);
            if let Some(parent) = bin_dir.parent() {
                remove_dir_if_empty(parent);
            }
        }
        Ok(out)
    }

    /// One line per thing the installer manages, and whether all of it is in place.
    pub fn status(&self) -> Result<(bool, Vec<String>), HostError> {
        let mut lines = Vec::new();
        let mut ok = true;
        let bin_dir = self.host(&self.bin_dir());
        for src in &self.binaries {
            let name = src.file_name().map(PathBuf::from).unwrap_or_default();
            let dest = bin_dir.join(&name);
            let state = match (read_optional(&dest)?, std::fs::read(src).ok()) {
                (None, _) => "missing",
                (Some(d), Some(s)) if sha256(&d) == sha256(&s) => "installed",
                (Some(_), Some(_)) => "differs from the installer's copy",
                (Some(_), None) => "installed (no copy to compare)",
            };
            ok &= state.starts_with("installed");
            lines.push(format!("binary {}: {state}", dest.display()));
        }
        let current = self.read_text(&self.target.path)?;
        let has = match &current {
            Some(text) => config::has_handler(
                &self.target.layout,
                &self.target.path,
                text,
                &self.handler.name,
            )?,
            None => false,
        };
        ok &= has;
        lines.push(format!(
            "config {} ({:?}): handler {:?} {}",
            self.target.path.display(),
            self.target.flavor,
            self.handler.name,
            if has { "present" } else { "absent" }
        ));
        lines.push(format!(
            "running youki containers: {}",
            self.running_containers().len()
        ));
        Ok((ok, lines))
    }
}

/// `*`-only glob match of a file name.
fn wildcard(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == name;
    }
    if !name.starts_with(first)
        || !name[first.len()..].ends_with(last)
        || name.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    #[test]
    fn wildcard_matches_like_a_shell() {
        assert!(super::wildcard("*.toml", "registry.toml"));
        assert!(super::wildcard("a*b*c", "axxbyyc"));
        assert!(!super::wildcard("*.toml", "registry.conf"));
        assert!(!super::wildcard("ab*ba", "aba"));
        assert!(super::wildcard("plain.toml", "plain.toml"));
    }
}
