//! Huge page limits: `hugetlb.<size>.limit_in_bytes` on v1, `hugetlb.<size>.max` on cgroup2
//! (where hybrid hosts keep hugetlb). The reservation limit (`.rsvd.`) is written too when
//! the kernel has it, so reservations are limited as the spec prefers.

use oci_spec::runtime::LinuxHugepageLimit;

use super::{need, Controller, Placement, Probe, Write};
use crate::CgroupError;

pub(super) fn translate(limits: &[LinuxHugepageLimit], probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if limits.is_empty() {
        return Ok(());
    }
    let Some(placement) = need(probe, Controller::Hugetlb)? else {
        return Ok(());
    };
    for l in limits {
        let size = l.page_size();
        if !valid_size(size) {
            return Err(invalid(size, "expected a number and KB, MB or GB, like 2MB"));
        }
        let (limit, rsvd, value) = match placement {
            Placement::V2 => (
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
                if l.limit() < 0 { "max".to_string() } else { l.limit().to_string() },
            ),
            _ => (format!("hugetlb.{size}.limit_in_bytes"), format!("hugetlb.{size}.rsvd.limit_in_bytes"), l.limit().to_string()),
        };
        if !probe.exists(Controller::Hugetlb, &limit) {
            return Err(invalid(size, "no such huge page size on this host"));
        }
        out.push(Write::new(Controller::Hugetlb, limit, &value));
        if probe.exists(Controller::Hugetlb, &rsvd) {
            out.push(Write::new(Controller::Hugetlb, rsvd, &value));
        }
    }
    Ok(())
}

fn invalid(size: &str, reason: &'static str) -> CgroupError {
    CgroupError::InvalidResource { field: "linux.resources.hugepageLimits pageSize".into(), value: format!("{size:?}"), reason }
}

/// `<digits><K|M|G|T|P>B`, which is also all that may go into a file name here.
fn valid_size(size: &str) -> bool {
    let Some(number) = size.strip_suffix('B').and_then(|s| s.strip_suffix(['K', 'M', 'G', 'T', 'P'])) else {
        return false;
    };
    !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::translate;
    use super::*;

    const JSON: &str = r#"{"hugepageLimits":[{"pageSize":"2MB","limit":209715200}]}"#;

    #[test]
    fn v1_limit_in_bytes() {
        let probe = FakeProbe::v1().with(Controller::Hugetlb, Placement::V1).file(Controller::Hugetlb, "hugetlb.2MB.limit_in_bytes");
        assert_eq!(pairs(&translate(&res(JSON), &probe).unwrap()), [("hugetlb.2MB.limit_in_bytes", "209715200")]);
    }

    #[test]
    fn v2_max_and_reservation() {
        let probe = FakeProbe::v1()
            .with(Controller::Hugetlb, Placement::V2)
            .file(Controller::Hugetlb, "hugetlb.2MB.max")
            .file(Controller::Hugetlb, "hugetlb.2MB.rsvd.max");
        assert_eq!(
            pairs(&translate(&res(JSON), &probe).unwrap()),
            [("hugetlb.2MB.max", "209715200"), ("hugetlb.2MB.rsvd.max", "209715200")]
        );
    }

    #[test]
    fn skipped_when_hugetlb_is_absent() {
        assert!(translate(&res(JSON), &FakeProbe::v1()).unwrap().is_empty());
    }

    #[test]
    fn rejects_unknown_size() {
        let probe = FakeProbe::v1().with(Controller::Hugetlb, Placement::V2);
        assert_eq!(
            translate(&res(JSON), &probe).unwrap_err().to_string(),
            "invalid linux.resources.hugepageLimits pageSize \"2MB\": no such huge page size on this host"
        );
    }

    #[test]
    fn rejects_malformed_size() {
        let probe = FakeProbe::v1().with(Controller::Hugetlb, Placement::V1);
        for size in ["2M", "MB", "../2MB", "2xB"] {
            let r = res(&format!(r#"{{"hugepageLimits":[{{"pageSize":"{size}","limit":1}}]}}"#));
            assert_eq!(
                translate(&r, &probe).unwrap_err().to_string(),
                format!("invalid linux.resources.hugepageLimits pageSize {size:?}: expected a number and KB, MB or GB, like 2MB")
            );
        }
    }
}
