//! Answers the per-path requests on the checker's command line: read, stat, ls, write-test.
//! Each answer is either the fact or the errno that prevented it, never a crash.

use crate::json::Json;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The largest file prefix the checker reports, so a masked-path mistake cannot flood stdout.
const READ_LIMIT: u64 = 64 * 1024;

fn error_json(err: &io::Error) -> Json {
    Json::Obj(vec![("errno".into(), Json::num(err.raw_os_error().unwrap_or(0))), ("error".into(), Json::str(err.to_string()))])
}

/// Reads the start of a file as text: `{"content": ...}` or `{"errno", "error"}`.
pub fn read(path: &str) -> Json {
    let mut buf = Vec::new();
    let result = fs::File::open(path).and_then(|f| f.take(READ_LIMIT).read_to_end(&mut buf));
    match result {
        Ok(_) => Json::Obj(vec![("content".into(), Json::str(String::from_utf8_lossy(&buf)))]),
        Err(err) => error_json(&err),
    }
}

fn type_name(ft: fs::FileType) -> &'static str {
    if ft.is_symlink() {
        "symlink"
    } else if ft.is_dir() {
        "dir"
    } else if ft.is_file() {
        "file"
    } else if ft.is_char_device() {
        "char"
    } else if ft.is_block_device() {
        "block"
    } else if ft.is_fifo() {
        "fifo"
    } else if ft.is_socket() {
        "socket"
    } else {
        "unknown"
    }
}

/// lstat(2) of a path: type, permission bits, device numbers, owner and symlink target.
pub fn stat(path: &str) -> Json {
    match fs::symlink_metadata(path) {
        Ok(md) => {
            let rdev = md.rdev();
            let mut fields = vec![
                ("type".into(), Json::str(type_name(md.file_type()))),
                ("mode".into(), Json::num(md.mode() & 0o7777)),
                ("major".into(), Json::num(libc::major(rdev))),
                ("minor".into(), Json::num(libc::minor(rdev))),
                ("uid".into(), Json::num(md.uid())),
                ("gid".into(), Json::num(md.gid())),
                ("size".into(), Json::num(md.size())),
                ("dev".into(), Json::num(md.dev())),
                ("ino".into(), Json::num(md.ino())),
            ];
            if md.file_type().is_symlink() {
                if let Ok(target) = fs::read_link(path) {
                    let target = target.to_string_lossy().into_owned();
                    fields.push(("target".into(), Json::str(target)));
                }
            }
            Json::Obj(fields)
        }
        Err(err) => error_json(&err),
    }
}

/// Sorted entry names of a directory.
pub fn ls(path: &str) -> Json {
    let entries = fs::read_dir(path).and_then(|dir| {
        let mut names = Vec::new();
        for entry in dir {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    });
    match entries {
        Ok(mut names) => {
            names.sort();
            Json::Obj(vec![("entries".into(), Json::strs(names))])
        }
        Err(err) => error_json(&err),
    }
}

/// Whether a path accepts writes: for a directory, creating (then removing) a new file in it;
/// for anything else, opening the existing file for writing without truncating it.
pub fn write_test(path: &str) -> Json {
    let p = Path::new(path);
    let result = if p.is_dir() {
        let probe = p.join(format!(".checker-write-test-{}", std::process::id()));
        fs::OpenOptions::new().write(true).create_new(true).open(&probe).and_then(|_| fs::remove_file(&probe))
    } else {
        fs::OpenOptions::new().write(true).open(p).map(drop)
    };
    match result {
        Ok(()) => Json::Obj(vec![("ok".into(), Json::Bool(true))]),
        Err(err) => {
            let mut fields = vec![("ok".into(), Json::Bool(false))];
            if let Json::Obj(more) = error_json(&err) {
                fields.extend(more);
            }
            Json::Obj(fields)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field<'a>(v: &'a Json, key: &str) -> Option<&'a Json> {
        match v {
            Json::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    #[test]
    fn stat_reports_a_char_device() {
        let v = stat("/dev/null");
        assert_eq!(field(&v, "type"), Some(&Json::str("char")));
        assert_eq!(field(&v, "major"), Some(&Json::num(1)));
        assert_eq!(field(&v, "minor"), Some(&Json::num(3)));
    }

    #[test]
    fn missing_paths_report_enoent() {
        for v in [read("/nonexistent/x"), stat("/nonexistent/x"), ls("/nonexistent/x")] {
            assert_eq!(field(&v, "errno"), Some(&Json::num(libc::ENOENT)));
        }
        assert_eq!(field(&write_test("/nonexistent/x"), "ok"), Some(&Json::Bool(false)));
    }
}
