//! Block IO rules on cgroup v2 (the `io` controller).
//!
//! Weights: with BFQ, io.bfq.weight takes the spec's values (10-1000) as they are; without
//! it, io.weight takes them mapped linearly onto 1-10000 the way runc does. Per-device
//! weights are "major:minor weight" lines in the same file. Throttles become io.max lines,
//! one key each (`rbps`, `wbps`, `riops`, `wiops`); a zero rate lifts the limit ("max"), as
//! zero does in the v1 files. Leaf weights have no v2 file and are ignored with a warning.

use oci_spec::runtime::LinuxBlockIo;

use super::{Controller, Probe, Write};

pub(super) fn translate(b: &LinuxBlockIo, probe: &dyn Probe, out: &mut Vec<Write>) {
    let w = |file: &str, value: String| Write::new(Controller::Blkio, file, value);
    let bfq = probe.exists(Controller::Blkio, "io.bfq.weight");
    let (file, convert): (&str, fn(u16) -> u64) = if bfq { ("io.bfq.weight", u64::from) } else { ("io.weight", blkio_weight_to_io) };
    if let Some(v) = b.weight().filter(|v| *v != 0) {
        out.push(w(file, convert(v).to_string()));
    }
    let mut leaf = b.leaf_weight().is_some_and(|v| v != 0);
    for d in b.weight_device().as_deref().unwrap_or_default() {
        if let Some(v) = d.weight().filter(|v| *v != 0) {
            out.push(w(file, format!("{}:{} {}", d.major(), d.minor(), convert(v))));
        }
        leaf |= d.leaf_weight().is_some();
    }
    if leaf {
        tracing::warn!("linux.resources.blockIO leaf weights have no cgroup v2 equivalent; ignoring them");
    }
    let throttles = [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ];
    for (key, list) in throttles {
        for t in list.iter().flatten() {
            let rate = if t.rate() == 0 { "max".to_string() } else { t.rate().to_string() };
            out.push(w("io.max", format!("{}:{} {key}={rate}", t.major(), t.minor())));
        }
    }
}

/// io.weight for a v1 blkio weight, as runc maps them: [10, 1000] onto [1, 10000].
pub fn blkio_weight_to_io(weight: u16) -> u64 {
    let w = u64::from(weight.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::Placement;
    use super::*;

    fn io(json: &str, probe: &FakeProbe) -> Vec<(String, String)> {
        file_values("blockIO", json, probe).unwrap()
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        owned(pairs)
    }

    fn v2() -> FakeProbe {
        FakeProbe::default().with(Controller::Blkio, Placement::V2)
    }

    #[test]
    fn weight_conversion_matches_runc() {
        assert_eq!(blkio_weight_to_io(10), 1);
        assert_eq!(blkio_weight_to_io(500), 4950);
        assert_eq!(blkio_weight_to_io(1000), 10000);
        assert_eq!(blkio_weight_to_io(5), 1);
    }

    #[test]
    fn weights_go_to_io_weight_converted() {
        assert_eq!(
            io(r#"{"weight":500,"leafWeight":300,"weightDevice":[{"major":8,"minor":0,"weight":100}]}"#, &v2()),
            p(&[("io.weight", "4950"), ("io.weight", "8:0 910")])
        );
    }

    #[test]
    fn bfq_takes_weights_unconverted() {
        let probe = v2().file(Controller::Blkio, "io.bfq.weight");
        assert_eq!(
            io(r#"{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":100}]}"#, &probe),
            p(&[("io.bfq.weight", "500"), ("io.bfq.weight", "8:0 100")])
        );
    }

    #[test]
    fn throttles_become_io_max_lines() {
        let json = r#"{"throttleReadBpsDevice":[{"major":8,"minor":0,"rate":600}],
                       "throttleWriteBpsDevice":[{"major":8,"minor":0,"rate":0}],
                       "throttleReadIOPSDevice":[{"major":8,"minor":16,"rate":100}],
                       "throttleWriteIOPSDevice":[{"major":8,"minor":16,"rate":300}]}"#;
        assert_eq!(
            io(json, &v2()),
            p(&[("io.max", "8:0 rbps=600"), ("io.max", "8:0 wbps=max"), ("io.max", "8:16 riops=100"), ("io.max", "8:16 wiops=300"),])
        );
    }
}
