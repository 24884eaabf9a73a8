//! The directory of failure reports: one NDJSON file per failed create, written whole
//! (temp file, fsync, rename), rotated by count and total size with the oldest removed
//! first, and searched newest first by container id or `namespace/pod`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The key of a report's first line.
pub const HEADER_KEY: &str = "youki_failure";
const SUFFIX: &str = ".ndjson";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("create report directory {path:?}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read report directory {path:?}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write report {path:?}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("remove old report {path:?}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where reports go and how many are kept.
#[derive(Debug, Clone)]
pub struct Store {
    pub dir: PathBuf,
    pub max_files: usize,
    pub max_bytes: u64,
}

/// Keeps only the characters of `s` that are safe in a file name, at most 64 of them.
fn file_part(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).take(64).collect()
}

/// The reports in `dir`, oldest first (names start with the time), with their sizes.
fn reports(dir: &Path) -> Result<Vec<(PathBuf, u64)>, StoreError> {
    let rd = fs::read_dir(dir).map_err(|source| StoreError::ReadDir { path: dir.to_path_buf(), source })?;
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.ends_with(SUFFIX) || name.starts_with('.') {
            continue;
        }
        let size = entry.metadata().map_or(0, |m| m.len());
        out.push((entry.path(), size));
    }
    out.sort();
    Ok(out)
}

impl Store {
    /// Makes the directory (0700) when it is missing.
    pub fn open(dir: &Path, max_files: usize, max_bytes: u64) -> Result<Self, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        Ok(Store { dir: dir.to_path_buf(), max_files: max_files.max(1), max_bytes })
    }

    /// Writes one report named after `unix_ms`, `pid` and `id`, then rotates.
    /// Returns the report's path and the paths removed by rotation.
    pub fn write(&self, unix_ms: u128, pid: u32, id: &str, lines: &[String]) -> Result<(PathBuf, Vec<PathBuf>), StoreError> {
        let name = format!("{unix_ms:013}-{pid}-{}{SUFFIX}", file_part(id));
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let werr = |source| StoreError::Write { path: path.clone(), source };
        let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(werr)?;
        let mut body = String::new();
        for l in lines {
            body.push_str(l);
            body.push('\n');
        }
        let written = f.write_all(body.as_bytes()).and_then(|()| f.sync_all()).and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(werr(e));
        }
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        let removed = self.rotate(&path)?;
        Ok((path, removed))
    }

    /// Removes the oldest reports until at most `max_files` remain and they hold at most
    /// `max_bytes`; `keep` (the newest) always stays.
    fn rotate(&self, keep: &Path) -> Result<Vec<PathBuf>, StoreError> {
        let mut all = reports(&self.dir)?;
        let mut total: u64 = all.iter().map(|(_, s)| s).sum();
        let mut removed = Vec::new();
        while all.len() > 1 && (all.len() > self.max_files || total > self.max_bytes) {
            let (path, size) = all.remove(0);
            if path == keep {
                all.push((path, size));
                continue;
            }
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Remove { path, source }),
            }
            total = total.saturating_sub(size);
            removed.push(path);
        }
        Ok(removed)
    }
}

/// Whether a report's header is about `query`: a container id, or `namespace/pod`.
pub fn matches(header: &Value, query: &str) -> bool {
    if header["container_id"].as_str() == Some(query) {
        return true;
    }
    let pod = &header["pod"];
    match (pod["namespace"].as_str(), pod["name"].as_str()) {
        (Some(ns), Some(name)) => query.split_once('/') == Some((ns, name)),
        _ => false,
    }
}

/// The newest report in `dir` about `query`: its path and its header object.
pub fn newest(dir: &Path, query: &str) -> Result<Option<(PathBuf, Value)>, StoreError> {
    for (path, _) in reports(dir)?.into_iter().rev() {
        let Ok(f) = File::open(&path) else { continue };
        let mut first = String::new();
        if BufReader::new(f).read_line(&mut first).is_err() {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(&first) else {
            continue;
        };
        let header = &v[HEADER_KEY];
        if matches(header, query) {
            return Ok(Some((path, header.clone())));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("youki-trace-store-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    fn header(id: &str, ns: &str, pod: &str) -> String {
        json!({HEADER_KEY: {"container_id": id, "pod": {"namespace": ns, "name": pod}}}).to_string()
    }

    #[test]
    fn finds_the_newest_report_by_id_or_pod() {
        let d = tmpdir("find");
        let s = Store::open(&d, 10, 1 << 20).unwrap();
        s.write(1, 5, "c1", &[header("c1", "default", "web"), "{}".into()]).unwrap();
        let (newer, _) = s.write(2, 6, "c1", &[header("c1", "default", "web")]).unwrap();
        s.write(3, 7, "c2", &[header("c2", "kube", "dns")]).unwrap();
        let (p, h) = newest(&d, "c1").unwrap().unwrap();
        assert_eq!(p, newer);
        assert_eq!(h["container_id"], "c1");
        assert_eq!(newest(&d, "kube/dns").unwrap().unwrap().1["container_id"], "c2");
        assert!(newest(&d, "default/dns").unwrap().is_none());
        assert!(newest(&d, "c3").unwrap().is_none());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn rotation_removes_the_oldest_first_by_count_and_by_size() {
        let d = tmpdir("rotate");
        let s = Store::open(&d, 2, 1 << 20).unwrap();
        let (a, _) = s.write(1, 1, "a", &[header("a", "n", "p")]).unwrap();
        s.write(2, 1, "b", &[header("b", "n", "p")]).unwrap();
        let (_, removed) = s.write(3, 1, "c/../x", &[header("c", "n", "p")]).unwrap();
        assert_eq!(removed, [a]);
        let names: Vec<String> = reports(&d).unwrap().iter().map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["0000000000002-1-b.ndjson", "0000000000003-1-c_.._x.ndjson"]);
        // a size cap below two reports keeps only the newest, even when it alone is larger
        let small = Store::open(&d, 10, 10).unwrap();
        let (last, removed) = small.write(4, 1, "d", &[header("d", "n", "p")]).unwrap();
        assert_eq!(removed.len(), 2);
        assert_eq!(reports(&d).unwrap().len(), 1);
        assert!(last.exists());
        fs::remove_dir_all(&d).unwrap();
    }
}
