//! Pure parsers for the /proc text formats the checker reports: mountinfo and status.

use crate::json::Json;

/// One line of /proc/self/mountinfo (see proc(5)).
#[derive(Debug, Clone, PartialEq)]
pub struct MountInfo {
    pub id: u32,
    pub parent: u32,
    pub dev: String,
    pub root: String,
    pub mount_point: String,
    pub options: String,
    /// The optional fields before the " - " separator: `shared:N`, `master:N`, `unbindable`...
    pub propagation: Vec<String>,
    pub fstype: String,
    pub source: String,
    pub super_options: String,
}

impl MountInfo {
    pub fn to_json(&self) -> Json {
        Json::Obj(vec![
            ("id".into(), Json::num(self.id)),
            ("parent".into(), Json::num(self.parent)),
            ("dev".into(), Json::str(self.dev.clone())),
            ("root".into(), Json::str(self.root.clone())),
            ("mount_point".into(), Json::str(self.mount_point.clone())),
            ("options".into(), Json::str(self.options.clone())),
            ("propagation".into(), Json::strs(self.propagation.clone())),
            ("fstype".into(), Json::str(self.fstype.clone())),
            ("source".into(), Json::str(self.source.clone())),
            ("super_options".into(), Json::str(self.super_options.clone())),
        ])
    }
}

/// Undoes the octal escapes (`\040` for a space) that the kernel puts in mountinfo paths.
pub fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits.iter().fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses one mountinfo line; `None` when the line does not have the documented shape.
pub fn parse_mountinfo_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut fields = left.split_whitespace();
    let id = fields.next()?.parse().ok()?;
    let parent = fields.next()?.parse().ok()?;
    let dev = fields.next()?.to_string();
    let root = unescape_octal(fields.next()?);
    let mount_point = unescape_octal(fields.next()?);
    let options = fields.next()?.to_string();
    let propagation = fields.map(str::to_string).collect();
    let mut rest = right.split_whitespace();
    let fstype = rest.next()?.to_string();
    let source = unescape_octal(rest.next()?);
    let super_options = rest.next().unwrap_or("").to_string();
    Some(MountInfo { id, parent, dev, root, mount_point, options, propagation, fstype, source, super_options })
}

pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// Looks up one `Key:\tvalue` field of /proc/<pid>/status.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_mountinfo_line_with_propagation_fields() {
        let line = "68 67 0:42 / /dev/pts rw,nosuid,noexec,relatime shared:5 master:1 - devpts devpts rw,gid=5,mode=620,ptmxmode=666";
        let m = parse_mountinfo_line(line).expect("valid line");
        assert_eq!(m.id, 68);
        assert_eq!(m.parent, 67);
        assert_eq!(m.dev, "0:42");
        assert_eq!(m.mount_point, "/dev/pts");
        assert_eq!(m.options, "rw,nosuid,noexec,relatime");
        assert_eq!(m.propagation, vec!["shared:5", "master:1"]);
        assert_eq!(m.fstype, "devpts");
        assert_eq!(m.source, "devpts");
        assert_eq!(m.super_options, "rw,gid=5,mode=620,ptmxmode=666");
    }

    #[test]
    fn unescapes_spaces_in_paths() {
        let line = r"70 65 0:50 /a\040b /mnt/with\040space rw - tmpfs tmp\011fs rw";
        let m = parse_mountinfo_line(line).expect("valid line");
        assert_eq!(m.root, "/a b");
        assert_eq!(m.mount_point, "/mnt/with space");
        assert_eq!(m.source, "tmp\tfs");
        assert!(m.propagation.is_empty());
    }

    #[test]
    fn rejects_a_line_without_separator() {
        assert_eq!(parse_mountinfo_line("1 2 0:3 / /x rw"), None);
        assert_eq!(unescape_octal(r"tail\04"), r"tail\04");
    }

    #[test]
    fn reads_status_fields() {
        let status = "Name:\tchecker\nUmask:\t0022\nCapEff:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        assert_eq!(status_field(status, "Umask"), Some("0022"));
        assert_eq!(status_field(status, "CapEff"), Some("00000000a80425fb"));
        assert_eq!(status_field(status, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(status, "Cap"), None);
    }
}
