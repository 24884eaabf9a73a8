//! Block IO rules (v1 names; v2 in `io`): weights and per-device weights and throttles.
//!
//! Kernels without CFQ have no blkio.weight; when BFQ is loaded its blkio.bfq.weight (and
//! blkio.bfq.weight_device) take the same values, so those are preferred when present.
//! Per-device values are one write each: "major:minor value".

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use super::{io, need, Controller, Placement, Probe, Write};
use crate::CgroupError;

pub(super) fn translate(b: &LinuxBlockIo, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    let weight = b.weight().filter(|w| *w != 0);
    let leaf_weight = b.leaf_weight().filter(|w| *w != 0);
    let devices = b.weight_device().as_deref().unwrap_or_default();
    let throttles = [
        ("blkio.throttle.read_bps_device", b.throttle_read_bps_device()),
        ("blkio.throttle.write_bps_device", b.throttle_write_bps_device()),
        ("blkio.throttle.read_iops_device", b.throttle_read_iops_device()),
        ("blkio.throttle.write_iops_device", b.throttle_write_iops_device()),
    ];
    let any_throttle = throttles.iter().any(|(_, t)| t.as_ref().is_some_and(|t| !t.is_empty()));
    let set = weight.is_some() || leaf_weight.is_some() || !devices.is_empty() || any_throttle;
    if !set {
        return Ok(());
    }
    match need(probe, Controller::Blkio)? {
        Some(Placement::V1) => {}
        Some(Placement::V2) => {
            io::translate(b, probe, out);
            return Ok(());
        }
        _ => return Ok(()),
    }
    let w = |file: &str, value: String| Write::new(Controller::Blkio, file, value);
    let bfq = probe.exists(Controller::Blkio, "blkio.bfq.weight");
    let (weight_file, weight_device_file) =
        if bfq { ("blkio.bfq.weight", "blkio.bfq.weight_device") } else { ("blkio.weight", "blkio.weight_device") };
    if let Some(v) = weight {
        out.push(w(weight_file, v.to_string()));
    }
    if let Some(v) = leaf_weight {
        out.push(w("blkio.leaf_weight", v.to_string()));
    }
    for d in devices {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(v) = d.weight() {
            out.push(w(weight_device_file, format!("{dev} {v}")));
        }
        if let Some(v) = d.leaf_weight() {
            out.push(w("blkio.leaf_weight_device", format!("{dev} {v}")));
        }
    }
    for (file, list) in throttles {
        for t in list.iter().flatten() {
            out.push(w(file, throttle(t)));
        }
    }
    Ok(())
}

fn throttle(t: &LinuxThrottleDevice) -> String {
    format!("{}:{} {}", t.major(), t.minor(), t.rate())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::*;

    fn blkio(json: &str, probe: &FakeProbe) -> Vec<(String, String)> {
        file_values("blockIO", json, probe).unwrap()
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        owned(pairs)
    }

    #[test]
    fn weights() {
        assert_eq!(blkio(r#"{"weight":10,"leafWeight":20}"#, &FakeProbe::v1()), p(&[("blkio.weight", "10"), ("blkio.leaf_weight", "20")]));
    }

    #[test]
    fn bfq_weight_files_are_preferred_when_present() {
        let probe = FakeProbe::v1().file(Controller::Blkio, "blkio.bfq.weight");
        assert_eq!(
            blkio(r#"{"weight":10,"weightDevice":[{"major":8,"minor":0,"weight":500}]}"#, &probe),
            p(&[("blkio.bfq.weight", "10"), ("blkio.bfq.weight_device", "8:0 500")])
        );
    }

    #[test]
    fn weight_devices() {
        let json = r#"{"weightDevice":[{"major":8,"minor":0,"weight":500,"leafWeight":300},
                                       {"major":8,"minor":16,"weight":600}]}"#;
        assert_eq!(
            blkio(json, &FakeProbe::v1()),
            p(&[("blkio.weight_device", "8:0 500"), ("blkio.leaf_weight_device", "8:0 300"), ("blkio.weight_device", "8:16 600"),])
        );
    }

    #[test]
    fn throttles() {
        let json = r#"{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":600}],
                       "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":700}],
                       "throttleReadIOPSDevice":[{"major":8,"minor":16,"rate":100}],
                       "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":300},
                                                  {"major":8,"minor":32,"rate":400}]}"#;
        assert_eq!(
            blkio(json, &FakeProbe::v1()),
            p(&[
                ("blkio.throttle.read_bps_device", "8:0 600"),
                ("blkio.throttle.write_bps_device", "8:0 700"),
                ("blkio.throttle.read_iops_device", "8:16 100"),
                ("blkio.throttle.write_iops_device", "8:16 300"),
                ("blkio.throttle.write_iops_device", "8:32 400"),
            ])
        );
    }

    #[test]
    fn empty_block_io_needs_no_controller() {
        assert!(blkio(r#"{"weightDevice":[]}"#, &FakeProbe::default()).is_empty());
    }
}
