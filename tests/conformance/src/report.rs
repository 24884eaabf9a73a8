//! Runs the selected cases one by one, turns each into PASS/FAIL/SKIP/XFAIL, prints one line
//! per case, makes the closing lines (the passes split into features and refusals, then the
//! counts), and writes the optional JSON report.

use crate::cases::{Case, Expected, Outcome};
use crate::ctx::{Ctx, Suite};
use anyhow::{Context, Result};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Kind {
    Pass,
    Fail,
    Skip,
    Xfail,
}

/// What a pass of the case proves: that a feature works, or only that the runtime refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    Feature,
    Refusal,
}

impl CaseKind {
    pub fn of(case: &Case) -> CaseKind {
        if case.refusal {
            CaseKind::Refusal
        } else {
            CaseKind::Feature
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    #[serde(rename = "result")]
    pub kind: Kind,
    pub detail: String,
    pub seconds: f64,
    /// Serialized as `kind`: `feature` or `refusal`.
    #[serde(rename = "kind")]
    pub case_kind: CaseKind,
}

/// Decides the result of a case from what it returned, what it left behind, and whether the
/// runtime is runc with a known gap for this case.
pub fn classify(outcome: Result<Outcome>, leaks: &[String], runc_xfail: Option<Expected>) -> (Kind, String) {
    let failure = match outcome {
        Ok(Outcome::Skip(why)) if leaks.is_empty() => return (Kind::Skip, why),
        Ok(_) if leaks.is_empty() => None,
        Ok(_) => Some(format!("left behind: {}", leaks.join("; "))),
        Err(err) => {
            let mut msg = format!("{err:#}");
            if !leaks.is_empty() {
                msg.push_str(&format!("; also left behind: {}", leaks.join("; ")));
            }
            Some(msg)
        }
    };
    match (failure, runc_xfail) {
        (None, None) => (Kind::Pass, String::new()),
        (None, Some(Expected { why, may_pass: true })) => (Kind::Pass, format!("passed this time (fails at times: {why})")),
        (None, Some(Expected { why, .. })) => {
            (Kind::Fail, format!("passed although marked as an expected runc failure ({why}): update the list"))
        }
        (Some(msg), None) => (Kind::Fail, msg),
        (Some(msg), Some(Expected { why, .. })) => (Kind::Xfail, format!("{why} (observed: {msg})")),
    }
}

pub fn line(name: &str, kind: Kind, detail: &str) -> String {
    let word = match kind {
        Kind::Pass => "PASS",
        Kind::Fail => "FAIL",
        Kind::Skip => "SKIP",
        Kind::Xfail => "XFAIL",
    };
    if detail.is_empty() {
        format!("{word} {name}")
    } else {
        format!("{word} {name}: {}", detail.replace('\n', " "))
    }
}

/// The closing lines: how many XFAIL there were, what the passes prove, and last the counts
/// line that scripts parse.
pub fn closing_lines(results: &[CaseResult]) -> Vec<String> {
    let mut lines = Vec::new();
    let xfails = results.iter().filter(|r| r.kind == Kind::Xfail).count();
    if xfails > 0 {
        lines.push(format!("# {xfails} XFAIL (expected failures of this runtime) are counted as skipped"));
    }
    let passed = |k: CaseKind| results.iter().filter(|r| r.kind == Kind::Pass && r.case_kind == k).count();
    let (features, refusals) = (passed(CaseKind::Feature), passed(CaseKind::Refusal));
    lines.push(format!("# of the {} passed: {features} features, {refusals} refusals", features + refusals));
    lines.push(summary(results));
    lines
}

/// The counts line; XFAIL results count as skipped.
pub fn summary(results: &[CaseResult]) -> String {
    let count = |k: Kind| results.iter().filter(|r| r.kind == k).count();
    format!("{} passed, {} failed, {} skipped", count(Kind::Pass), count(Kind::Fail), count(Kind::Skip) + count(Kind::Xfail))
}

pub fn run_all(suite: &Suite, cases: &[Case]) -> Vec<CaseResult> {
    let mut results = Vec::new();
    let mut stdout = std::io::stdout();
    for (index, case) in cases.iter().enumerate() {
        let started = Instant::now();
        let (kind, detail) = match Ctx::new(suite, index) {
            Ok(mut ctx) => {
                // A panicking case is a failure of that case, not the end of the run.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(&mut ctx)))
                    .unwrap_or_else(|panic| Err(anyhow::anyhow!("the case panicked: {}", panic_text(&panic))));
                let leaks = ctx.finish();
                let xfail = case.expected_failure(suite.rt.peer, &suite.cgroups);
                classify(outcome, &leaks, xfail)
            }
            Err(err) => (Kind::Fail, format!("setting up the case: {err:#}")),
        };
        let _ = writeln!(stdout, "{}", line(&case.name, kind, &detail));
        let _ = stdout.flush();
        results.push(CaseResult {
            name: case.name.clone(),
            kind,
            detail,
            seconds: started.elapsed().as_secs_f64(),
            case_kind: CaseKind::of(case),
        });
    }
    results
}

fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string())
}

pub fn write_json(path: &Path, results: &[CaseResult]) -> Result<()> {
    let text = serde_json::to_string_pretty(results).context("serializing the results")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::anyhow;

    #[test]
    fn leaks_turn_a_pass_into_a_failure() {
        assert_eq!(classify(Ok(Outcome::Pass), &[], None), (Kind::Pass, String::new()));
        let (kind, detail) = classify(Ok(Outcome::Pass), &["state dir x".into()], None);
        assert_eq!(kind, Kind::Fail);
        assert!(detail.contains("state dir x"));
    }

    #[test]
    fn expected_failures_are_xfail_only_when_they_fail() {
        let always = Some(Expected { why: "no time ns", may_pass: false });
        let (kind, detail) = classify(Err(anyhow!("boom")), &[], always);
        assert_eq!(kind, Kind::Xfail);
        assert_eq!(detail, "no time ns (observed: boom)");
        assert_eq!(classify(Ok(Outcome::Pass), &[], always).0, Kind::Fail);
        let flaky = Some(Expected { why: "criu at times", may_pass: true });
        assert_eq!(classify(Ok(Outcome::Pass), &[], flaky).0, Kind::Pass);
        assert_eq!(classify(Err(anyhow!("boom")), &[], flaky).0, Kind::Xfail);
        // A leak is a failure of the runtime's cleanup, flaky or not: it stays an XFAIL, not a pass.
        assert_eq!(classify(Ok(Outcome::Pass), &["state dir x".into()], flaky).0, Kind::Xfail);
        assert_eq!(classify(Ok(Outcome::Skip("why".into())), &[], None), (Kind::Skip, "why".into()));
    }

    #[test]
    fn summary_counts_xfail_as_skipped() {
        let r = |kind| CaseResult { name: "a/b".into(), kind, detail: String::new(), seconds: 0.0, case_kind: CaseKind::Feature };
        let results = [r(Kind::Pass), r(Kind::Pass), r(Kind::Fail), r(Kind::Skip), r(Kind::Xfail)];
        assert_eq!(summary(&results), "2 passed, 1 failed, 2 skipped");
        assert_eq!(line("x/y", Kind::Skip, "why\nnot"), "SKIP x/y: why not");
        assert_eq!(line("x/y", Kind::Pass, ""), "PASS x/y");
    }

    #[test]
    fn passes_split_into_features_and_refusals_before_the_counts() {
        let r = |kind, case_kind| CaseResult { name: "a/b".into(), kind, detail: String::new(), seconds: 0.0, case_kind };
        let results = [
            r(Kind::Pass, CaseKind::Feature),
            r(Kind::Pass, CaseKind::Refusal),
            r(Kind::Pass, CaseKind::Feature),
            r(Kind::Fail, CaseKind::Refusal),
            r(Kind::Xfail, CaseKind::Feature),
        ];
        assert_eq!(
            closing_lines(&results),
            [
                "# 1 XFAIL (expected failures of this runtime) are counted as skipped",
                "# of the 3 passed: 2 features, 1 refusals",
                "3 passed, 1 failed, 1 skipped",
            ]
        );
        let json = serde_json::to_value(&results[1]).expect("serializes");
        assert_eq!(json["kind"], "refusal");
        assert_eq!(json["result"], "PASS");
        assert_eq!(json["name"], "a/b");
    }
}
