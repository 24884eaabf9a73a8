//! Reading and writing cgroup control files and directories, with errors that name the
//! file. Writes never create files: a missing control file is an error, as on cgroupfs.

use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
    thread,
    time::{Duration, Instant},
};

use crate::CgroupError;

/// Reads a control file.
pub(crate) fn read(path: &Path) -> Result<String, CgroupError> {
    read_text(path).map_err(|e| CgroupError::io("read", path, e))
}

/// Reads a small text file (a control file, or one under /proc) into a 4 KiB buffer, grown
/// only when full: open, one read(2) for a whole small file, the read that finds its end,
/// close. std's readers first ask statx (and lseek) for a size, which these files report as
/// 0 or 4096, then read 32 bytes and double: about eight calls for a 2 KiB mountinfo.
pub fn read_text(path: impl AsRef<Path>) -> io::Result<String> {
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match io::Read::read(&mut f, &mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Writes `value` to an existing control file in one write(2).
pub(crate) fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let fail = |source| CgroupError::Write { path: path.to_path_buf(), value: value.to_string(), source };
    let mut f = fs::OpenOptions::new().write(true).truncate(true).open(path).map_err(fail)?;
    f.write_all(value.as_bytes()).map_err(fail)
}

/// Creates `dir` and its missing parents.
pub(crate) fn create_dir(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(dir).map_err(|e| CgroupError::io("create directory", dir, e))
}

/// The sub-cgroups of `dir`, deepest first, then `dir` itself.
fn tree_deepest_first(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let mut out = Vec::new();
    collect(dir, &mut out)?;
    Ok(out)
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::io("list directory", dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| CgroupError::io("list directory", dir, e))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            collect(&entry.path(), out)?;
        }
    }
    out.push(dir.to_path_buf());
    Ok(())
}

/// Removes the cgroup `dir` and every cgroup below it, deepest first. A cgroup whose last
/// task is still exiting answers EBUSY for a moment, so that is retried for about
/// `patience`; a directory already gone counts as removed.
pub(crate) fn remove_tree(dir: &Path, patience: Duration) -> Result<(), CgroupError> {
    // Most cgroups have no children and no task left: one rmdir, no listing (a listing of a
    // cgroup directory reads every control file's entry, under kernfs's locks). Any failure
    // (children, a task still exiting) goes the long way below, which reports it.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for d in tree_deepest_first(dir)? {
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        loop {
            match fs::remove_dir(&d) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < patience => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(CgroupError::io("remove directory", &d, e)),
            }
        }
    }
    Ok(())
}

/// Every pid in cgroup.procs of `dir` and of the cgroups below it; empty if `dir` is gone.
pub(crate) fn pids_recursive(dir: &Path) -> Result<Vec<i32>, CgroupError> {
    let mut pids = Vec::new();
    for d in tree_deepest_first(dir)? {
        let file = d.join("cgroup.procs");
        let text = match read_text(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(CgroupError::io("read", &file, e)),
        };
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let pid = line.parse().map_err(|_| CgroupError::Parse {
                file: file.display().to_string(),
                line: line.to_string(),
                reason: "not a pid",
            })?;
            pids.push(pid);
        }
    }
    pids.sort_unstable();
    pids.dedup();
    Ok(pids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_text_reads_small_and_large_files_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let big = "0123456789abcdef\n".repeat(1000);
        fs::write(tmp.path().join("big"), &big).unwrap();
        assert_eq!(read_text(tmp.path().join("big")).unwrap(), big);
        fs::write(tmp.path().join("small"), "max\n").unwrap();
        assert_eq!(read_text(tmp.path().join("small")).unwrap(), "max\n");
        // A /proc file reports a size of 0: it still reads to its end.
        assert_eq!(read_text("/proc/self/mountinfo").unwrap(), fs::read_to_string("/proc/self/mountinfo").unwrap());
        assert_eq!(read_text(tmp.path().join("gone")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn write_replaces_and_never_creates() {
        let tmp = tempfile::tempdir().unwrap();
        let f = tmp.path().join("pids.max");
        fs::write(&f, "max\n").unwrap();
        write(&f, "20").unwrap();
        assert_eq!(read(&f).unwrap(), "20");
        let missing = tmp.path().join("nope");
        let err = write(&missing, "1").unwrap_err();
        assert_eq!(err.to_string(), format!("write \"1\" to {missing:?}"));
        assert!(!missing.exists());
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("No such file"), "{source}");
    }

    #[test]
    fn remove_tree_goes_deepest_first_and_tolerates_absence() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("c");
        fs::create_dir_all(top.join("a/b")).unwrap();
        fs::create_dir_all(top.join("d")).unwrap();
        remove_tree(&top, Duration::from_millis(10)).unwrap();
        assert!(!top.exists());
        remove_tree(&top, Duration::from_millis(10)).unwrap();
    }

    #[test]
    fn remove_tree_reports_other_errors_with_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("c");
        fs::create_dir_all(&top).unwrap();
        fs::write(top.join("cgroup.procs"), "").unwrap();
        let err = remove_tree(&top, Duration::from_millis(10)).unwrap_err();
        assert_eq!(err.to_string(), format!("remove directory {top:?}"));
    }

    #[test]
    fn pids_are_collected_recursively() {
        let tmp = tempfile::tempdir().unwrap();
        let top = tmp.path().join("c");
        fs::create_dir_all(top.join("sub")).unwrap();
        fs::write(top.join("cgroup.procs"), "12\n7\n").unwrap();
        fs::write(top.join("sub/cgroup.procs"), "30\n").unwrap();
        assert_eq!(pids_recursive(&top).unwrap(), [7, 12, 30]);
        assert!(pids_recursive(&tmp.path().join("gone")).unwrap().is_empty());
    }
}
