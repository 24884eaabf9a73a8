//! How a failed command reports its error, as runc 1.1 does it (a drop-in runtime is read by
//! shims and scripts that expect this): without `--log`, one log line on stderr in the
//! `--log-format`; with `--log FILE`, the log line goes to the file and stderr gets the bare
//! message, the same text as the line's `msg`.

use super::{Case, Outcome};
use crate::check;
use crate::ctx::Ctx;
use crate::runtime::{Call, Output};
use anyhow::Result;
use serde_json::Value;

pub fn cases() -> Vec<Case> {
    let m = "error_output";
    vec![
        Case::new(m, "stderr_log_line_without_log", stderr_line_without_log).refusal(),
        Case::new(m, "stderr_json_line_without_log", stderr_json_without_log).refusal(),
        Case::new(m, "bare_message_with_log_file", bare_message_with_log).refusal(),
        Case::new(m, "bare_message_with_json_log_file", bare_message_with_json_log).refusal(),
    ]
}

/// The one non-empty line of TEXT, or a failure naming WHERE.
fn single_line<'a>(text: &'a str, what: &str, out: &Output) -> Result<&'a str> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    check!(lines.len() == 1, "{what} has {} lines, not 1: {}", lines.len(), out.describe());
    Ok(lines[0])
}

/// `msg` of a logfmt line `time="..." level=error msg="..."`, checked field by field.
fn logfmt_error_msg(line: &str) -> Result<String> {
    let rest = line.strip_prefix("time=\"").unwrap_or("");
    let (time, rest) = rest.split_once("\" ").unwrap_or(("", ""));
    check!(time.len() >= 20 && time.contains('T'), "no RFC 3339 time in {line:?}");
    let msg = rest.strip_prefix("level=error msg=").unwrap_or("");
    check!(msg.len() >= 2 && msg.starts_with('"') && msg.ends_with('"'), "not `level=error msg=\"...\"`: {line:?}");
    Ok(msg[1..msg.len() - 1].replace("\\\"", "\"").replace("\\\\", "\\"))
}

/// `msg` of a JSON line with level error and a time.
fn json_error_msg(line: &str) -> Result<String> {
    let v: Value = serde_json::from_str(line).map_err(|e| anyhow::anyhow!("not JSON: {e}: {line:?}"))?;
    check!(v["level"] == "error", "level is not error: {line:?}");
    check!(v["time"].as_str().is_some_and(|t| t.contains('T')), "no time: {line:?}");
    Ok(v["msg"].as_str().unwrap_or_default().to_string())
}

/// `state` of a container that does not exist, with global ARGS before the subcommand.
fn failing_state(ctx: &mut Ctx, args: &[&str], log: bool) -> Result<Output> {
    let id = ctx.id();
    let mut all = args.to_vec();
    all.extend(["state", &id]);
    let out = ctx.call_with(&all, Call { log, ..Call::default() })?;
    check!(out.code == Some(1), "state of a missing container did not exit 1: {}", out.describe());
    Ok(out)
}

fn stderr_line_without_log(ctx: &mut Ctx) -> Result<Outcome> {
    let out = failing_state(ctx, &[], false)?;
    let msg = logfmt_error_msg(single_line(&out.stderr, "stderr", &out)?)?;
    check!(msg.contains("does not exist"), "the message does not say the container does not exist: {msg:?}");
    Ok(Outcome::Pass)
}

fn stderr_json_without_log(ctx: &mut Ctx) -> Result<Outcome> {
    let out = failing_state(ctx, &["--log-format", "json"], false)?;
    let msg = json_error_msg(single_line(&out.stderr, "stderr", &out)?)?;
    check!(msg.contains("does not exist"), "the message does not say the container does not exist: {msg:?}");
    Ok(Outcome::Pass)
}

fn bare_message_with_log(ctx: &mut Ctx) -> Result<Outcome> {
    let out = failing_state(ctx, &[], true)?;
    let logged = logfmt_error_msg(single_line(&out.log, "the log file", &out)?)?;
    let bare = single_line(&out.stderr, "stderr", &out)?;
    check!(bare == logged, "stderr {bare:?} is not the logged message {logged:?}");
    Ok(Outcome::Pass)
}

fn bare_message_with_json_log(ctx: &mut Ctx) -> Result<Outcome> {
    let out = failing_state(ctx, &["--log-format", "json"], true)?;
    let logged = json_error_msg(single_line(&out.log, "the log file", &out)?)?;
    let bare = single_line(&out.stderr, "stderr", &out)?;
    check!(bare == logged, "stderr {bare:?} is not the logged message {logged:?}");
    Ok(Outcome::Pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_lines_are_read_and_bad_ones_refused() {
        let line = r#"time="2026-11-25T07:27:00Z" level=error msg="container \"x\" does not exist""#;
        assert_eq!(logfmt_error_msg(line).unwrap(), r#"container "x" does not exist"#);
        assert!(logfmt_error_msg(r#"youki: container "x" does not exist"#).is_err());
        assert!(logfmt_error_msg(r#"time="2026-11-25T07:27:00Z" level=warning msg="x""#).is_err());
        assert_eq!(json_error_msg(r#"{"level":"error","msg":"m","time":"2026-11-25T07:27:00Z"}"#).unwrap(), "m");
        assert!(json_error_msg(r#"{"level":"info","msg":"m","time":"2026-11-25T07:27:00Z"}"#).is_err());
    }
}
