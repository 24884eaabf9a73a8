//! Install, uninstall and status on one node: binaries, the runtime config and the ledger,
//! under the host lock. Restarting the container manager and labelling the node are left to
//! the caller, which gets told whether the config changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{self, Layout};
use crate::error::{ConfigError, HostError};
use crate::fsutil::sha256;
use crate::handler::Handlers;
use crate::hostfs::HostRoot;
use crate::ledger::{Ledger, Original};
use crate::locate::Target;
use crate::lock::HostLock;

/// Where the installer keeps its ledger on the host.
pub const STATE_DIR: &str = "/opt/youki/installer";
/// The host lock, on the host's /run so a reboot clears it.
pub const LOCK_PATH: &str = "/run/youki-installer.lock";
/// Every binary the installer may place in the binary directory.
const OWNED_BINARIES: [&str; 3] = ["youki", "youki-trace", "youki-wasm"];

/// Everything install and uninstall need to know.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the host's root filesystem is mounted (`/` when run on the host).
    pub host_root: PathBuf,
    pub target: Target,
    /// The handlers to register (`youki`, and `youki-wasm` when its binary is shipped).
    pub handlers: Handlers,
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
    /// The host root, opened once per operation; every host file goes through it.
    pub fn root(&self) -> Result<HostRoot, HostError> {
        HostRoot::open(&self.host_root)
    }

    fn bin_dir(&self) -> PathBuf {
        Path::new(&self.handlers.youki.binary).parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("/opt/youki/bin"))
    }

    fn ledger<'a>(&self, host: &'a HostRoot) -> Ledger<'a> {
        Ledger::new(host, Path::new(STATE_DIR), &self.target.path)
    }

    fn lock(&self, host: &HostRoot) -> Result<Option<HostLock>, HostError> {
        if self.dry_run {
            return Ok(None);
        }
        HostLock::acquire(host, Path::new(LOCK_PATH), Duration::from_secs(120)).map(Some)
    }

    fn read_text(host: &HostRoot, host_path: &Path) -> Result<Option<String>, HostError> {
        Ok(host.read_optional(host_path)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Checks that what is about to be written still parses, before anything restarts.
    fn reparse(&self, text: &str) -> Result<(), ConfigError> {
        let path = self.target.path.as_path();
        match self.target.layout {
            Layout::Template => {
                let masked: String = text.lines().filter(|l| !l.contains("{{")).collect::<Vec<_>>().join("\n");
                config::parse_config(path, &masked).map(|_| ())
            }
            Layout::Crio => text
                .parse::<toml_edit::DocumentMut>()
                .map(|_| ())
                .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() }),
            _ => config::parse_config(path, text).map(|_| ()),
        }
    }

    /// Places the binaries and adds the handler. Idempotent.
    pub fn install(&self) -> Result<Outcome, HostError> {
        let host = self.root()?;
        let _lock = self.lock(&host)?;
        let mut out = Outcome::default();
        let current = Self::read_text(&host, &self.target.path)?;
        let context = match &self.target.context {
            Some(p) => Self::read_text(&host, p)?,
            None => None,
        };
        if let (Layout::InPlace, Some(text)) = (&self.target.layout, current.as_deref()) {
            self.check_imports(&host, text)?;
        }
        let new = config::install(&self.target.layout, &self.target.path, current.as_deref(), context.as_deref(), &self.handlers)?;
        // The config is computed (and a corrupt one, or one on a read-only store, refused)
        // before anything on the host changes.
        if !self.dry_run && current.as_deref() != Some(new.as_str()) {
            host.ensure_writable(&self.target.path)?;
        }
        let bin_dir = self.bin_dir();
        for src in &self.binaries {
            let name = src.file_name().map(PathBuf::from).unwrap_or_default();
            let dest = bin_dir.join(&name);
            let bytes = std::fs::read(src).map_err(|source| HostError::Read { path: src.clone(), source })?;
            let same = host.read_optional(&dest)?.map(|d| sha256(&d) == sha256(&bytes)).unwrap_or(false);
            let shown = host.shown(&dest);
            if same {
                out.messages.push(format!("{} is up to date", shown.display()));
            } else if self.dry_run {
                out.messages.push(format!("would place {}", shown.display()));
            } else {
                host.replace_atomically(&dest, &bytes, 0o755)?;
                out.messages.push(format!("placed {}", shown.display()));
            }
        }

        self.write_config(&host, current.as_deref(), Some(&new), &mut out)?;
        Ok(out)
    }

    /// How the node differs from what `install` leaves: the config no longer as installed
    /// (the handler taken out or changed), a binary gone, a restart that did not finish.
    /// Empty when nothing drifted. Reads only, and takes no lock.
    pub fn drift(&self) -> Result<Vec<String>, HostError> {
        let host = self.root()?;
        let mut found = Vec::new();
        let path = &self.target.path;
        let current = Self::read_text(&host, path)?;
        let context = match &self.target.context {
            Some(p) => Self::read_text(&host, p)?,
            None => None,
        };
        let new = config::install(&self.target.layout, path, current.as_deref(), context.as_deref(), &self.handlers)?;
        match &current {
            None => found.push(format!("{} is gone", path.display())),
            Some(text) if *text != new => {
                let mut lost = Vec::new();
                for h in self.handlers.wanted() {
                    if !config::has_handler(&self.target.layout, path, text, &h.name)? {
                        lost.push(format!("{:?}", h.name));
                    }
                }
                if lost.is_empty() {
                    found.push(format!("{} changed the installer's handlers", path.display()));
                } else {
                    found.push(format!("{} lost the {} handler", path.display(), lost.join(" and ")));
                }
            }
            Some(_) => {}
        }
        let bin_dir = self.bin_dir();
        for src in &self.binaries {
            let dest = bin_dir.join(src.file_name().unwrap_or_default());
            if !host.exists(&dest) {
                found.push(format!("{} is gone", dest.display()));
            }
        }
        if host.exists(&Path::new(STATE_DIR).join("restart-pending")) {
            found.push(format!("a restart of {} did not finish", self.target.unit));
        }
        Ok(found)
    }

    /// Refuses when an imported file would replace the CRI section the handler goes into.
    fn check_imports(&self, host: &HostRoot, text: &str) -> Result<(), HostError> {
        let (_, schema) = config::parse_config(&self.target.path, text)?;
        for import in config::imports(&self.target.path, text)? {
            for file in self.expand(host, &import) {
                let Some(bytes) = host.read_optional(&file)? else {
                    continue;
                };
                let imported = String::from_utf8_lossy(&bytes);
                if config::defines_cri_plugin(&file, &imported, schema)? {
                    return Err(ConfigError::ImportedCriSection { import: file, main: self.target.path.clone() }.into());
                }
            }
        }
        Ok(())
    }

    /// An `imports` entry as host paths: relative to the config's directory, with a `*` in
    /// the file name matched against the directory's entries.
    fn expand(&self, host: &HostRoot, import: &str) -> Vec<PathBuf> {
        let base = self.target.path.parent().unwrap_or(Path::new("/"));
        let path = base.join(import);
        let (Some(dir), Some(pattern)) = (path.parent(), path.file_name().and_then(|n| n.to_str())) else {
            return Vec::new();
        };
        if !pattern.contains('*') {
            return vec![path.clone()];
        }
        let mut found: Vec<PathBuf> =
            host.list_dir(dir).into_iter().map(|(n, _)| n).filter(|n| wildcard(pattern, n)).map(|n| dir.join(n)).collect();
        found.sort();
        found
    }

    /// Writes the new config (None deletes the file), with a diff in dry-run mode.
    fn write_config(&self, host: &HostRoot, current: Option<&str>, new: Option<&str>, out: &mut Outcome) -> Result<(), HostError> {
        let shown = self.target.path.display().to_string();
        if current == new {
            out.messages.push(format!("{shown} is up to date"));
            return Ok(());
        }
        if let Some(text) = new {
            self.reparse(text)?;
        }
        if self.dry_run {
            out.messages.push(crate::diff::unified(&shown, current.unwrap_or(""), new.unwrap_or("")));
            out.config_changed = true;
            return Ok(());
        }
        // A config that is a symlink is written (or removed) at its target; the link stays.
        let path = &self.target.path;
        match new {
            Some(text) => {
                host.ensure_writable(path)?;
                self.ledger(host).back_up_once(current.map(str::as_bytes))?;
                host.replace_atomically(path, text.as_bytes(), host.mode_or(path, 0o644))?;
                self.ledger(host).record_installed(text.as_bytes())?;
                out.messages.push(format!("updated {shown}"));
            }
            None => {
                host.ensure_writable(path)?;
                host.remove_target(path)?;
                out.messages.push(format!("removed {shown}"));
            }
        }
        out.config_changed = true;
        Ok(())
    }

    /// Containers youki still manages: state directories under the roots of its handlers.
    pub fn running_containers(&self, host: &HostRoot) -> Vec<PathBuf> {
        let mut found = Vec::new();
        let mut dirs: Vec<(PathBuf, usize)> = self.handlers.roots().into_iter().map(|r| (PathBuf::from(r), 0)).collect();
        while let Some((dir, depth)) = dirs.pop() {
            for (name, is_dir) in host.list_dir(&dir) {
                if !is_dir {
                    continue;
                }
                let p = dir.join(name);
                if host.exists(&p.join("state.json")) {
                    found.push(host.shown(&p));
                } else if depth < 2 {
                    dirs.push((p, depth + 1));
                }
            }
        }
        found.sort();
        found
    }

    /// File names of the binaries uninstall removes: those shipped now, and those an earlier
    /// image may have shipped (a `youki-wasm` placed before the image dropped it).
    fn owned_binaries(&self) -> Vec<PathBuf> {
        let mut names: Vec<PathBuf> = self.binaries.iter().filter_map(|b| b.file_name().map(PathBuf::from)).collect();
        for known in OWNED_BINARIES {
            if !names.iter().any(|n| n.as_os_str() == known) {
                names.push(PathBuf::from(known));
            }
        }
        names
    }

    /// Restores the config, removes the binaries and the ledger. Idempotent. Refuses while
    /// youki containers still run, unless `force`.
    pub fn uninstall(&self) -> Result<Outcome, HostError> {
        let host = self.root()?;
        let running = self.running_containers(&host);
        if !running.is_empty() && !self.force {
            return Err(HostError::InUse { count: running.len(), root: host.shown(Path::new(&self.handlers.youki.root)) });
        }
        let _lock = self.lock(&host)?;
        let mut out = Outcome::default();
        let ledger = self.ledger(&host);
        let current = Self::read_text(&host, &self.target.path)?;
        let new = match ledger.original()? {
            Original::Bytes(orig) if ledger.is_ours(current.as_deref().map(str::as_bytes))? => {
                Some(String::from_utf8_lossy(&orig).into_owned())
            }
            Original::Absent if ledger.is_ours(current.as_deref().map(str::as_bytes))? => None,
            _ => match current.as_deref() {
                Some(text) => config::uninstall(&self.target.layout, &self.target.path, text, &self.handlers)?,
                None => None,
            },
        };
        self.write_config(&host, current.as_deref(), new.as_deref(), &mut out)?;

        let bin_dir = self.bin_dir();
        for name in self.owned_binaries() {
            let dest = bin_dir.join(name);
            if !host.exists(&dest) {
                continue;
            }
            let shown = host.shown(&dest);
            if self.dry_run {
                out.messages.push(format!("would remove {}", shown.display()));
            } else {
                host.remove_optional(&dest)?;
                out.messages.push(format!("removed {}", shown.display()));
            }
        }
        if !self.dry_run {
            ledger.clear()?;
            host.remove_dir_if_empty(Path::new(STATE_DIR));
            host.remove_dir_if_empty(&bin_dir);
            if let Some(parent) = bin_dir.parent() {
                host.remove_dir_if_empty(parent);
            }
        }
        Ok(out)
    }

    /// One line per thing the installer manages, and whether all of it is in place.
    pub fn status(&self) -> Result<(bool, Vec<String>), HostError> {
        let host = self.root()?;
        let mut lines = Vec::new();
        let mut ok = true;
        let bin_dir = self.bin_dir();
        for src in &self.binaries {
            let name = src.file_name().map(PathBuf::from).unwrap_or_default();
            let dest = bin_dir.join(&name);
            let state = match (host.read_optional(&dest)?, std::fs::read(src).ok()) {
                (None, _) => "missing",
                (Some(d), Some(s)) if sha256(&d) == sha256(&s) => "installed",
                (Some(_), Some(_)) => "differs from the installer's copy",
                (Some(_), None) => "installed (no copy to compare)",
            };
            ok &= state.starts_with("installed");
            lines.push(format!("binary {}: {state}", host.shown(&dest).display()));
        }
        let current = Self::read_text(&host, &self.target.path)?;
        for h in self.handlers.wanted() {
            let has = match &current {
                Some(text) => config::has_handler(&self.target.layout, &self.target.path, text, &h.name)?,
                None => false,
            };
            ok &= has;
            lines.push(format!(
                "config {} ({:?}): handler {:?} {}",
                self.target.path.display(),
                self.target.flavor,
                h.name,
                if has { "present" } else { "absent" }
            ));
        }
        lines.push(format!("running youki containers: {}", self.running_containers(&host).len()));
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
    if !name.starts_with(first) || !name[first.len()..].ends_with(last) || name.len() < first.len() + last.len() {
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
