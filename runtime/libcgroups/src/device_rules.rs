//! What a device rule list means, computed the way the v1 devices controller computes it.
//!
//! The kernel keeps a default (allow or deny everything) and a list of exceptions. A rule of
//! type "a" resets both; any other rule either adds an exception (when it goes against the
//! default) or takes access away from the exception with exactly the same type and numbers
//! (when it goes with the default). A request is then decided by the exceptions: under a
//! default deny, one exception must cover every requested access bit; under a default allow,
//! any exception sharing one bit denies. The cgroup v2 BPF program is generated from this
//! result, so v1 and v2 containers see the same devices.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::CgroupError;

/// Access bits, with the kernel's BPF_DEVCG_ACC_* values.
pub const MKNOD: u8 = 1;
pub const READ: u8 = 2;
pub const WRITE: u8 = 4;

/// Device kinds, with the kernel's BPF_DEVCG_DEV_* values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Block = 1,
    Char = 2,
}

/// One exception of the kernel's list: `None` numbers are wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u8,
}

/// The outcome of a rule list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAccess {
    pub default_allow: bool,
    pub exceptions: Vec<Exception>,
}

/// One device access the kernel asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub kind: Kind,
    pub major: u32,
    pub minor: u32,
    pub access: u8,
}

impl DeviceAccess {
    /// Applies `rules` in order, starting from a cgroup that allows everything (a new v1
    /// cgroup below an unrestricted parent). FIFO rules (type "p") have no meaning for the
    /// device controller and are skipped.
    pub fn from_rules(rules: &[LinuxDeviceCgroup]) -> Result<Self, CgroupError> {
        let mut out = DeviceAccess { default_allow: true, exceptions: Vec::new() };
        for rule in rules {
            let access = parse_access(rule.access().as_deref().unwrap_or("rwm"))?;
            let kind = match rule.typ().unwrap_or(LinuxDeviceType::A) {
                LinuxDeviceType::A => {
                    out = DeviceAccess { default_allow: rule.allow(), exceptions: Vec::new() };
                    continue;
                }
                LinuxDeviceType::B => Kind::Block,
                LinuxDeviceType::C | LinuxDeviceType::U => Kind::Char,
                LinuxDeviceType::P => continue,
            };
            let ex = Exception { kind, major: number("major", rule.major())?, minor: number("minor", rule.minor())?, access };
            if rule.allow() == out.default_allow {
                out.take_away(&ex);
            } else {
                out.add(ex);
            }
        }
        Ok(out)
    }

    fn add(&mut self, ex: Exception) {
        match self.exceptions.iter_mut().find(|e| same_target(e, &ex)) {
            Some(e) => e.access |= ex.access,
            None => self.exceptions.push(ex),
        }
    }

    fn take_away(&mut self, ex: &Exception) {
        for e in self.exceptions.iter_mut().filter(|e| same_target(e, ex)) {
            e.access &= !ex.access;
        }
        self.exceptions.retain(|e| e.access != 0);
    }

    /// Whether the kernel lets `req` through.
    pub fn allows(&self, req: Request) -> bool {
        let hits = |e: &&Exception| e.kind == req.kind && e.major.is_none_or(|m| m == req.major) && e.minor.is_none_or(|m| m == req.minor);
        if self.default_allow {
            !self.exceptions.iter().filter(hits).any(|e| e.access & req.access != 0)
        } else {
            self.exceptions.iter().filter(hits).any(|e| req.access & !e.access == 0)
        }
    }
}

fn same_target(a: &Exception, b: &Exception) -> bool {
    a.kind == b.kind && a.major == b.major && a.minor == b.minor
}

/// "rwm" as access bits.
pub fn parse_access(s: &str) -> Result<u8, CgroupError> {
    let mut bits = 0;
    for c in s.chars() {
        bits |= match c {
            'r' => READ,
            'w' => WRITE,
            'm' => MKNOD,
            _ => 0xff,
        };
    }
    if s.is_empty() || bits == 0xff || bits > (READ | WRITE | MKNOD) {
        return Err(CgroupError::InvalidResource {
            field: "linux.resources.devices access".into(),
            value: format!("{s:?}"),
            reason: "must be made of r, w and m",
        });
    }
    Ok(bits)
}

/// A device number, where absent or negative means "any".
fn number(field: &'static str, n: Option<i64>) -> Result<Option<u32>, CgroupError> {
    match n {
        None => Ok(None),
        Some(n) if n < 0 => Ok(None),
        Some(n) => i32::try_from(n).map(|n| Some(n as u32)).map_err(|_| CgroupError::InvalidResource {
            field: format!("linux.resources.devices {field}"),
            value: n.to_string(),
            reason: "too large for a device number",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: &str) -> Vec<LinuxDeviceCgroup> {
        serde_json::from_str(json).unwrap()
    }

    fn access(json: &str) -> DeviceAccess {
        DeviceAccess::from_rules(&rules(json)).unwrap()
    }

    fn chr(major: u32, minor: u32, access: u8) -> Request {
        Request { kind: Kind::Char, major, minor, access }
    }

    #[test]
    fn deny_all_then_allow_some() {
        let a = access(
            r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
            {"allow":true,"type":"c","major":136,"access":"rwm"}]"#,
        );
        assert!(!a.default_allow);
        assert!(a.allows(chr(1, 3, READ | WRITE)));
        assert!(!a.allows(chr(1, 3, MKNOD)));
        assert!(a.allows(chr(136, 7, WRITE)));
        assert!(!a.allows(chr(1, 5, READ)));
        assert!(!a.allows(Request { kind: Kind::Block, major: 1, minor: 3, access: READ }));
    }

    #[test]
    fn a_later_deny_takes_bits_from_an_equal_exception() {
        let a = access(
            r#"[{"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":false,"type":"c","major":1,"minor":3,"access":"w"}]"#,
        );
        assert_eq!(a.exceptions, [Exception { kind: Kind::Char, major: Some(1), minor: Some(3), access: READ | MKNOD }]);
        assert!(a.allows(chr(1, 3, READ)));
        assert!(!a.allows(chr(1, 3, WRITE)));
    }

    #[test]
    fn allow_all_then_deny_some() {
        let a = access(
            r#"[{"allow":true,"access":"rwm"},
            {"allow":false,"type":"c","major":1,"access":"w"}]"#,
        );
        assert!(a.default_allow);
        assert!(a.allows(chr(1, 3, READ)));
        assert!(!a.allows(chr(1, 3, READ | WRITE)));
        assert!(a.allows(chr(2, 3, WRITE)));
    }

    #[test]
    fn an_allow_under_allow_only_removes_an_exactly_equal_exception() {
        // The kernel's quirk: "c 1:3 w" does not carve a hole in "c 1:* w".
        let a = access(
            r#"[{"allow":false,"type":"c","major":1,"access":"w"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"w"}]"#,
        );
        assert!(!a.allows(chr(1, 3, WRITE)));
        let b = access(
            r#"[{"allow":false,"type":"c","major":1,"access":"w"},
            {"allow":true,"type":"c","major":1,"access":"w"}]"#,
        );
        assert!(b.exceptions.is_empty());
        assert!(b.allows(chr(1, 3, WRITE)));
    }

    #[test]
    fn a_type_all_rule_resets_everything() {
        let a = access(
            r#"[{"allow":false,"type":"c","major":1,"access":"w"},
            {"allow":false,"access":"r"}]"#,
        );
        assert_eq!(a, DeviceAccess { default_allow: false, exceptions: vec![] });
    }

    #[test]
    fn exceptions_merge_and_fifos_are_skipped() {
        let a = access(
            r#"[{"allow":false},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"r"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"w"},
            {"allow":true,"type":"p","major":1,"minor":3,"access":"m"}]"#,
        );
        assert_eq!(a.exceptions.len(), 1);
        assert_eq!(a.exceptions[0].access, READ | WRITE);
    }

    #[test]
    fn bad_access_and_numbers_are_named() {
        let e = DeviceAccess::from_rules(&rules(r#"[{"allow":true,"type":"c","access":"rx"}]"#)).unwrap_err();
        assert_eq!(e.to_string(), "invalid linux.resources.devices access \"rx\": must be made of r, w and m");
        let e = DeviceAccess::from_rules(&rules(r#"[{"allow":true,"type":"c","major":4294967296}]"#)).unwrap_err();
        assert_eq!(e.to_string(), "invalid linux.resources.devices major 4294967296: too large for a device number");
    }
}
