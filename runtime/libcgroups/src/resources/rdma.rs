//! RDMA rule: one rdma.max line per device, `<device> hca_handle=<n> hca_object=<n>`, with
//! "max" for an unset value. Same file and format on v1 and v2; the controller is optional.

use std::collections::HashMap;

use oci_spec::runtime::LinuxRdma;

use super::{need, Controller, Probe, Write};
use crate::CgroupError;

pub(super) fn translate(map: &HashMap<String, LinuxRdma>, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    if map.is_empty() || need(probe, Controller::Rdma)?.is_none() {
        return Ok(());
    }
    let mut devices: Vec<_> = map.iter().collect();
    devices.sort_by(|a, b| a.0.cmp(b.0));
    let or_max = |v: Option<u32>| v.map_or_else(|| "max".to_string(), |v| v.to_string());
    for (device, limit) in devices {
        let value = format!("{device} hca_handle={} hca_object={}", or_max(limit.hca_handles()), or_max(limit.hca_objects()));
        out.push(Write::new(Controller::Rdma, "rdma.max", value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::translate;
    use super::*;
    use crate::Placement;

    #[test]
    fn one_line_per_device_sorted() {
        let r = res(r#"{"rdma":{"mlx5_1":{"hcaHandles":3,"hcaObjects":10000},"mlx4_0":{"hcaObjects":7}}}"#);
        let probe = FakeProbe::v1().with(Controller::Rdma, Placement::V1);
        assert_eq!(
            pairs(&translate(&r, &probe).unwrap()),
            [("rdma.max", "mlx4_0 hca_handle=max hca_object=7"), ("rdma.max", "mlx5_1 hca_handle=3 hca_object=10000"),]
        );
        assert!(translate(&r, &FakeProbe::v1()).unwrap().is_empty());
    }
}
