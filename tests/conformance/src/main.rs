//! The conformance harness: runs every case against a runc-compatible runtime binary and
//! prints one result line per case, then `#` lines (unexpected skips, what the passes prove)
//! and last `N passed, N failed, N skipped`.
//!
//! Usage: `conformance --runtime PATH [--runtime-arg ARG]... [--filter SUBSTR]...
//!                     [--checker PATH] [--list] [--skip-slow] [--json FILE]
//!                     [--skip-baseline FILE]`
//! (`RUNTIME` env when `--runtime` is absent).

mod baseline;
mod bundle;
mod cases;
mod cgroup_driver;
mod cgroup_files;
mod console;
mod ctx;
mod facts;
mod host;
#[allow(dead_code)]
#[path = "bin/checker/json.rs"]
mod json;
#[allow(dead_code)]
#[path = "bin/checker/procfs.rs"]
mod procfs;
mod report;
mod runtime;
mod spec;

use anyhow::{bail, Context, Result};
use bundle::Assets;
use cgroup_driver::CgroupDriver;
use ctx::Suite;
use std::path::PathBuf;

#[derive(Debug, Default, PartialEq)]
struct Options {
    runtime: Option<PathBuf>,
    /// Global flags for every runtime call, before the subcommand.
    runtime_args: Vec<String>,
    /// A case runs when its name contains any of these (all cases when empty).
    filters: Vec<String>,
    checker: Option<PathBuf>,
    json: Option<PathBuf>,
    /// The cases allowed to skip; any other skip is a failure.
    skip_baseline: Option<PathBuf>,
    list: bool,
    skip_slow: bool,
}

const USAGE: &str = "usage: conformance --runtime PATH [--runtime-arg ARG]... [--filter SUBSTR]... [--checker PATH] [--list] [--skip-slow] [--json FILE] [--skip-baseline FILE]";

fn parse_options(args: &[String]) -> Result<Options> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().with_context(|| format!("{flag} needs a value\n{USAGE}"));
        match flag.as_str() {
            "--runtime" => opts.runtime = Some(PathBuf::from(value()?)),
            "--runtime-arg" => opts.runtime_args.push(value()?),
            "--filter" => opts.filters.push(value()?),
            "--checker" => opts.checker = Some(PathBuf::from(value()?)),
            "--json" => opts.json = Some(PathBuf::from(value()?)),
            "--skip-baseline" => opts.skip_baseline = Some(PathBuf::from(value()?)),
            "--list" => opts.list = true,
            "--skip-slow" => opts.skip_slow = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(opts)
}

fn main() {
    match real_main() {
        Ok(code) => std::process::exit(code),
        Err(err) => {
            eprintln!("conformance: {err:#}");
            std::process::exit(2);
        }
    }
}

fn real_main() -> Result<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = parse_options(&args)?;
    let selected: Vec<cases::Case> = cases::all()
        .into_iter()
        .filter(|c| opts.filters.is_empty() || opts.filters.iter().any(|f| c.name.contains(f.as_str())))
        .filter(|c| !(opts.skip_slow && c.slow))
        .collect();
    if opts.list {
        for case in &selected {
            let mut notes = Vec::new();
            if case.refusal {
                notes.push("refusal".to_string());
            }
            if case.slow {
                notes.push("slow".to_string());
            }
            if let Some(why) = case.runc_xfail {
                notes.push(format!("runc 1.1 xfail: {why}"));
            }
            if let Some(why) = case.runc13_xfail {
                notes.push(format!("runc 1.3 xfail: {why}"));
            }
            if let Some(why) = case.runc_systemd_xfail {
                let word = if case.runc_systemd_flaky { "flaky" } else { "xfail" };
                notes.push(format!("runc --systemd-cgroup {word}: {why}"));
            }
            println!("{}{}", case.name, if notes.is_empty() { String::new() } else { format!(" ({})", notes.join("; ")) });
        }
        return Ok(0);
    }
    let runtime = match opts.runtime.clone().or_else(|| std::env::var_os("RUNTIME").map(PathBuf::from)) {
        Some(path) => path,
        None => bail!("no runtime: pass --runtime PATH or set RUNTIME\n{USAGE}"),
    };
    // Read before the run, so a missing file stops the suite at once.
    let baseline = match &opts.skip_baseline {
        Some(path) => Some(baseline::Baseline::load(path)?),
        None => None,
    };
    let suite = setup(runtime, opts.runtime_args.clone(), opts.checker.clone())?;
    let mut results = report::run_all(&suite, &selected);
    teardown(&suite);
    if let Some(baseline) = &baseline {
        let known = cases::all().into_iter().map(|c| c.name).collect();
        for line in baseline.apply(&mut results, &known) {
            println!("{line}");
        }
    }
    for line in report::closing_lines(&results) {
        println!("{line}");
    }
    if let Some(path) = &opts.json {
        report::write_json(path, &results)?;
    }
    Ok(if results.iter().any(|r| r.kind == report::Kind::Fail) { 1 } else { 0 })
}

fn setup(runtime: PathBuf, runtime_args: Vec<String>, checker: Option<PathBuf>) -> Result<Suite> {
    let runtime = std::fs::canonicalize(&runtime).with_context(|| format!("runtime {}", runtime.display()))?;
    let checker = match checker {
        Some(p) => p,
        None => std::env::current_exe().context("locating the harness executable")?.with_file_name("checker"),
    };
    if !checker.is_file() {
        bail!("checker binary {} not found: build it or pass --checker", checker.display());
    }
    let busybox = PathBuf::from("/bin/busybox");
    if !busybox.is_file() {
        bail!("{} not found: install busybox-static", busybox.display());
    }
    let tmp = std::env::var_os("TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    let tag = format!("conf{}", std::process::id());
    let base = tmp.join(format!("conformance-{}", std::process::id()));
    if base.exists() {
        std::fs::remove_dir_all(&base).with_context(|| format!("removing stale {}", base.display()))?;
    }
    bundle::make_dir(&base)?;
    let cgroups = CgroupDriver::for_runtime_args(&runtime_args);
    let rt = runtime::Runtime::probe(runtime, base.join("root"), runtime_args)?;
    println!(
        "# runtime: {} ({}){}{}",
        rt.path.display(),
        rt.version.lines().next().unwrap_or("?"),
        if rt.global_args.is_empty() { String::new() } else { format!(", global flags {:?}", rt.global_args) },
        rt.peer.map_or(String::new(), |p| format!("; expected failures: the {} list", p.label()))
    );
    Ok(Suite { rt, assets: Assets { busybox, checker }, base, tag, cgroups, host_ns: host::namespaces("self") })
}

/// Deletes any container a case could not clean up, then removes the run's temp dir and the
/// shared cgroup parent (when empty). Keeps the dir when something is still in use.
fn teardown(suite: &Suite) {
    let remaining = |root: &std::path::Path| -> Vec<String> {
        // Names starting with '.' are no containers (youki's seccomp cache is `.cache`).
        let names = std::fs::read_dir(root).map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect::<Vec<_>>());
        names.unwrap_or_default().into_iter().filter(|n| !n.starts_with('.')).collect()
    };
    for id in remaining(&suite.rt.root) {
        let _ = suite.rt.call(&suite.base, &["delete", "--force", &id], runtime::Call::default());
    }
    let left = remaining(&suite.rt.root);
    if let (CgroupDriver::Fs { parent }, Ok(hierarchies)) = (&suite.cgroups, host::hierarchies()) {
        for h in hierarchies {
            let _ = std::fs::remove_dir(h.dir(parent));
        }
    }
    let mounts = host::mounts_under(&suite.base).unwrap_or_default();
    if left.is_empty() && mounts.is_empty() {
        let _ = std::fs::remove_dir_all(&suite.base);
    } else {
        eprintln!("# warning: keeping {}: containers {left:?} and host mounts {mounts:?} remain", suite.base.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_documented_flags() {
        let opts = parse_options(&args(&[
            "--runtime",
            "/r",
            "--filter",
            "mounts/",
            "--runtime-arg",
            "--systemd-cgroup",
            "--filter",
            "cgroups/",
            "--skip-slow",
            "--json",
            "o.json",
            "--skip-baseline",
            "skips/youki.txt",
        ]))
        .expect("valid");
        assert_eq!(opts.runtime, Some(PathBuf::from("/r")));
        assert_eq!(opts.filters, ["mounts/", "cgroups/"]);
        assert_eq!(opts.runtime_args, ["--systemd-cgroup"]);
        assert!(opts.skip_slow && !opts.list);
        assert_eq!(opts.json, Some(PathBuf::from("o.json")));
        assert_eq!(opts.skip_baseline, Some(PathBuf::from("skips/youki.txt")));
    }

    #[test]
    fn rejects_unknown_flags_and_missing_values() {
        assert!(parse_options(&args(&["--bogus"])).is_err());
        assert!(parse_options(&args(&["--runtime"])).is_err());
    }
}
