//! The pids rule: `limit` to pids.max, where zero or a negative value means "max".

use oci_spec::runtime::LinuxPids;

use super::{need, Controller, Placement, Probe, Write};
use crate::CgroupError;

pub(super) fn translate(p: &LinuxPids, probe: &dyn Probe, out: &mut Vec<Write>) -> Result<(), CgroupError> {
    // pids.max has the same name and format on v1 and v2.
    if let Some(Placement::V1 | Placement::V2) = need(probe, Controller::Pids)? {
        let value = match p.limit() {
            l if l > 0 => l.to_string(),
            _ => "max".to_string(),
        };
        out.push(Write::new(Controller::Pids, "pids.max", value));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fake::*;
    use super::super::translate;

    fn pids(json: &str) -> Vec<(String, String)> {
        translate(&res(&format!(r#"{{"pids":{json}}}"#)), &FakeProbe::v1()).unwrap().into_iter().map(|w| (w.file, w.value)).collect()
    }

    #[test]
    fn positive_limit() {
        assert_eq!(pids(r#"{"limit":20}"#), [("pids.max".to_string(), "20".to_string())]);
    }

    #[test]
    fn zero_and_negative_mean_max() {
        for json in [r#"{"limit":0}"#, r#"{"limit":-1}"#, "{}"] {
            assert_eq!(pids(json), [("pids.max".to_string(), "max".to_string())]);
        }
    }
}
