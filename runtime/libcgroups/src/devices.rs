//! The device allowlist: spec rules as devices.allow / devices.deny lines, and the default
//! rules every container gets.
//!
//! A line is `<type> <major>:<minor> <access>`, e.g. "c 1:3 rwm", with "*" for an absent
//! number. A rule of type "a" is all-or-nothing in the kernel (the numbers and access are
//! ignored), so it is written as plain "a": the spec's usual first rule, deny all, becomes
//! "a" in devices.deny. Rules are written in the spec's order.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::resources::{need, Controller, Placement, Probe, Write};
use crate::CgroupError;

/// The devices the runtime-spec says every container may use (null, zero, full, random,
/// urandom, tty, ptmx and the pts range), as allow rules. libcontainer appends them after
/// the spec's own rules.
pub fn default_device_rules() -> Vec<LinuxDeviceCgroup> {
    [
        (1, Some(3)), // /dev/null
        (1, Some(5)), // /dev/zero
        (1, Some(7)), // /dev/full
        (1, Some(8)), // /dev/random
        (1, Some(9)), // /dev/urandom
        (5, Some(0)), // /dev/tty
        (5, Some(2)), // /dev/ptmx
        (136, None),  // /dev/pts/*
    ]
    .into_iter()
    .map(|(major, minor)| {
        let mut rule = LinuxDeviceCgroup::default();
        rule.set_allow(true);
        rule.set_typ(Some(LinuxDeviceType::C));
        rule.set_major(Some(major));
        rule.set_minor(minor);
        rule.set_access(Some("rwm".to_string()));
        rule
    })
    .collect()
}

/// The devices.allow/devices.deny line for `rule`, or `None` for a rule the device cgroup
/// cannot express (type "p", a FIFO).
pub fn device_rule_line(rule: &LinuxDeviceCgroup) -> Result<Option<String>, CgroupError> {
    let access = rule.access().as_deref().unwrap_or("rwm");
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(CgroupError::InvalidResource {
            field: "linux.resources.devices access".into(),
            value: format!("{access:?}"),
            reason: "must be made of r, w and m",
        });
    }
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => return Ok(Some("a".to_string())),
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => return Ok(None),
    };
    let number = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    Ok(Some(format!("{typ} {}:{} {access}", number(rule.major()), number(rule.minor()))))
}

pub(crate) fn translate(rules: &[LinuxDeviceCgroup], probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // On cgroup v2 the driver enforces the rules with a BPF program (see `v2::device_prog`).
    if rules.is_empty() || need(probe, Controller::Devices)? != Some(Placement::V1) {
        return Ok(());
    }
    for rule in rules {
        let Some(line) = device_rule_line(rule)? else {
            tracing::warn!(?rule, "the device cgroup has no rules for FIFOs; ignoring the rule");
            continue;
        };
        let file = if rule.allow() { "devices.allow" } else { "devices.deny" };
        out.push(Write::new(Controller::Devices, file, line));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::fake::*;
    use crate::resources::{translate as all, Placement};

    fn rule(json: &str) -> LinuxDeviceCgroup {
        serde_json::from_str(json).unwrap()
    }

    fn line(json: &str) -> String {
        device_rule_line(&rule(json)).unwrap().unwrap()
    }

    #[test]
    fn char_and_block_rules() {
        assert_eq!(line(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"}"#), "c 1:3 rwm");
        assert_eq!(line(r#"{"allow":true,"type":"b","major":8,"minor":0,"access":"r"}"#), "b 8:0 r");
        assert_eq!(line(r#"{"allow":true,"type":"u","major":4,"minor":1,"access":"w"}"#), "c 4:1 w");
    }

    #[test]
    fn absent_numbers_are_wildcards() {
        assert_eq!(line(r#"{"allow":true,"type":"c","major":136,"access":"rwm"}"#), "c 136:* rwm");
        assert_eq!(line(r#"{"allow":true,"type":"c","access":"m"}"#), "c *:* m");
        assert_eq!(line(r#"{"allow":true,"type":"b","major":-1,"minor":-1,"access":"m"}"#), "b *:* m");
    }

    #[test]
    fn absent_access_is_rwm() {
        assert_eq!(line(r#"{"allow":true,"type":"c","major":1,"minor":3}"#), "c 1:3 rwm");
    }

    #[test]
    fn type_a_and_absent_type_are_all() {
        assert_eq!(line(r#"{"allow":false,"access":"rwm"}"#), "a");
        assert_eq!(line(r#"{"allow":true,"type":"a","major":1,"access":"r"}"#), "a");
    }

    #[test]
    fn fifo_rules_have_no_line() {
        assert_eq!(device_rule_line(&rule(r#"{"allow":true,"type":"p"}"#)).unwrap(), None);
    }

    #[test]
    fn rejects_bad_access() {
        for access in ["rwx", ""] {
            let r = rule(&format!(r#"{{"allow":true,"type":"c","access":"{access}"}}"#));
            assert_eq!(
                device_rule_line(&r).unwrap_err().to_string(),
                format!("invalid linux.resources.devices access {access:?}: must be made of r, w and m")
            );
        }
    }

    #[test]
    fn deny_all_first_then_rules_in_order() {
        let r = res(r#"{"devices":[
            {"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":10,"minor":229,"access":"rw"},
            {"allow":false,"type":"c","major":5,"minor":1,"access":"w"},
            {"allow":true,"type":"p"},
            {"allow":true,"type":"b","major":8,"minor":0,"access":"r"}]}"#);
        assert_eq!(
            pairs(&all(&r, &FakeProbe::v1()).unwrap()),
            [("devices.deny", "a"), ("devices.allow", "c 10:229 rw"), ("devices.deny", "c 5:1 w"), ("devices.allow", "b 8:0 r"),]
        );
    }

    #[test]
    fn rules_need_the_devices_controller() {
        let probe = FakeProbe::default().with(Controller::Memory, Placement::V1);
        let r = res(r#"{"devices":[{"allow":false,"access":"rwm"}]}"#);
        assert_eq!(all(&r, &probe).unwrap_err().to_string(), "cgroup controller \"devices\" is not mounted");
        assert!(all(&res(r#"{"devices":[]}"#), &probe).unwrap().is_empty());
    }

    #[test]
    fn default_rules_are_the_spec_defaults() {
        let lines: Vec<String> = default_device_rules()
            .iter()
            .map(|r| {
                assert!(r.allow());
                device_rule_line(r).unwrap().unwrap()
            })
            .collect();
        assert_eq!(lines, ["c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm"]);
    }
}
