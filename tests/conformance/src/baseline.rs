//! The committed skip baseline (`--skip-baseline FILE`, tests/conformance/skips/): the cases
//! allowed to SKIP for one runtime on the CI host. A SKIP that is not on it becomes a FAIL, so
//! the number of skips cannot grow silently; an entry that no longer skips is only a note.
//!
//! The file holds one case name a line; text after `#` is a comment (the reason, for the
//! reader) and blank lines are ignored. XFAIL results are not skips here: their reasons live
//! in the code (`Case::runc_xfail`), so they stay out of the file.

use crate::report::{CaseResult, Kind};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct Baseline {
    path: PathBuf,
    names: BTreeSet<String>,
}

impl Baseline {
    pub fn load(path: &Path) -> Result<Baseline> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading the skip baseline {}", path.display()))?;
        Ok(Baseline { path: path.to_path_buf(), names: parse(&text) })
    }

    /// Turns every SKIP of a case not on the baseline into a FAIL and returns the `#` lines
    /// that say so, then the notes: entries of the selected cases that did not skip, and
    /// entries that name no case at all (`known` holds every case's name).
    pub fn apply(&self, results: &mut [CaseResult], known: &BTreeSet<String>) -> Vec<String> {
        let mut lines = Vec::new();
        for r in results.iter_mut() {
            if r.kind == Kind::Skip && !self.names.contains(&r.name) {
                let reason = r.detail.replace('\n', " ");
                lines.push(format!("# unexpected skip: {}: {reason}", r.name));
                r.kind = Kind::Fail;
                r.detail = format!("unexpected skip (not in {}): {reason}", self.path.display());
            }
        }
        for name in &self.names {
            match results.iter().find(|r| &r.name == name) {
                Some(r) if r.kind != Kind::Skip => {
                    lines.push(format!("# note: no longer skips: {name}"));
                }
                None if !known.contains(name) => {
                    lines.push(format!("# note: the skip baseline names no case: {name}"));
                }
                _ => {}
            }
        }
        lines
    }
}

/// The case names of a baseline file's text.
fn parse(text: &str) -> BTreeSet<String> {
    text.lines().map(|l| l.split('#').next().unwrap_or_default().trim()).filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::CaseKind;

    fn result(name: &str, kind: Kind, detail: &str) -> CaseResult {
        CaseResult { name: name.into(), kind, detail: detail.into(), seconds: 0.0, case_kind: CaseKind::Feature }
    }

    fn baseline(text: &str) -> Baseline {
        Baseline { path: PathBuf::from("skips/x.txt"), names: parse(text) }
    }

    #[test]
    fn reads_names_and_drops_comments() {
        let names = parse("# header\n\na/b   # why it skips\n  c/d\n");
        assert_eq!(names, BTreeSet::from(["a/b".to_string(), "c/d".to_string()]));
    }

    #[test]
    fn a_skip_off_the_baseline_is_a_failure() {
        let b = baseline("a/listed # ok\n");
        let mut results = [
            result("a/listed", Kind::Skip, "no criu"),
            result("a/new", Kind::Skip, "nodev\nmount"),
            result("a/xfail", Kind::Xfail, "runc lacks it"),
        ];
        let known = results.iter().map(|r| r.name.clone()).collect();
        let lines = b.apply(&mut results, &known);
        assert_eq!(lines, ["# unexpected skip: a/new: nodev mount"]);
        assert_eq!(results[0].kind, Kind::Skip);
        assert_eq!(results[1].kind, Kind::Fail);
        assert_eq!(results[1].detail, "unexpected skip (not in skips/x.txt): nodev mount");
        assert_eq!(results[2].kind, Kind::Xfail);
        assert_eq!(crate::report::summary(&results), "0 passed, 1 failed, 2 skipped");
    }

    #[test]
    fn stale_entries_are_notes_not_failures() {
        let b = baseline("a/passes\na/filtered_out\na/typo\n");
        let mut results = [result("a/passes", Kind::Pass, "")];
        let known = BTreeSet::from(["a/passes".to_string(), "a/filtered_out".to_string()]);
        let lines = b.apply(&mut results, &known);
        assert_eq!(lines, ["# note: no longer skips: a/passes", "# note: the skip baseline names no case: a/typo",]);
        assert_eq!(results[0].kind, Kind::Pass);
    }

    #[test]
    fn committed_baselines_name_real_cases_and_no_xfail() {
        use crate::cgroup_driver::CgroupDriver;
        use crate::runtime::Peer;
        let fs = CgroupDriver::for_runtime_args(&[]);
        let files = [
            ("youki", include_str!("../skips/youki.txt"), None),
            ("runc-1.1.5", include_str!("../skips/runc-1.1.5.txt"), Some(Peer::Runc11)),
            ("runc-1.3", include_str!("../skips/runc-1.3.txt"), Some(Peer::Runc13)),
        ];
        let cases = crate::cases::all();
        for (file, text, peer) in files {
            for name in parse(text) {
                let case = cases.iter().find(|c| c.name == name);
                let case = case.unwrap_or_else(|| panic!("skips/{file}.txt names no case: {name}"));
                assert!(case.expected_failure(peer, &fs).is_none(), "skips/{file}.txt lists {name}, an XFAIL of that runtime");
            }
        }
    }
}
