//! Network rules: net_cls.classid and net_prio.ifpriomap (`<interface> <priority>`, one
//! write per interface). Both controllers are optional, as in runc.

use oci_spec::runtime::LinuxNetwork;

use super::{need_v1, Controller, Probe, Write};
use crate::CgroupError;

pub(super) fn translate(n: &LinuxNetwork, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if let Some(id) = n.class_id() {
        if need_v1(probe, Controller::NetCls)? {
            out.push(Write::new(Controller::NetCls, "net_cls.classid", id));
        }
    }
    let priorities = n.priorities().as_deref().unwrap_or_default();
    if !priorities.is_empty() && need_v1(probe, Controller::NetPrio)? {
        for p in priorities {
            let name = p.name();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(CgroupError::InvalidResource {
                    field: "linux.resources.network.priorities name".into(),
                    value: format!("{name:?}"),
                    reason: "must be a non-empty interface name without spaces",
                });
            }
            out.push(Write::new(Controller::NetPrio, "net_prio.ifpriomap", format!("{name} {}", p.priority())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::translate;
    use super::*;
    use crate::Placement;

    const JSON: &str = r#"{"network":{"classID":1048577,
        "priorities":[{"name":"eth0","priority":5},{"name":"eth1","priority":1000}]}}"#;

    fn probe() -> FakeProbe {
        FakeProbe::v1().with(Controller::NetCls, Placement::V1).with(Controller::NetPrio, Placement::V1)
    }

    #[test]
    fn classid_and_priorities() {
        assert_eq!(
            pairs(&translate(&res(JSON), &probe()).unwrap()),
            [("net_cls.classid", "1048577"), ("net_prio.ifpriomap", "eth0 5"), ("net_prio.ifpriomap", "eth1 1000"),]
        );
    }

    #[test]
    fn skipped_when_not_mounted() {
        assert!(translate(&res(JSON), &FakeProbe::v1()).unwrap().is_empty());
    }

    #[test]
    fn rejects_interface_names_with_spaces() {
        let r = res(r#"{"network":{"priorities":[{"name":"eth0 7","priority":5}]}}"#);
        assert_eq!(
            translate(&r, &probe()).unwrap_err().to_string(),
            "invalid linux.resources.network.priorities name \"eth0 7\": must be a non-empty interface name without spaces"
        );
    }
}
