//! `pause`, `resume`, `ps`, `update` and `events`: the commands that go through the cgroup.

use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use libcontainer::lifecycle::cgroup_ops;
use liboci_cli::{Events, OutputFormat, Ps, Update};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Value};

pub fn pause(root: &Path, id: &str) -> Result<i32> {
    cgroup_ops::pause(root, id)?;
    Ok(0)
}

pub fn resume(root: &Path, id: &str) -> Result<i32> {
    cgroup_ops::resume(root, id)?;
    Ok(0)
}

pub fn ps(root: &Path, p: &Ps) -> Result<i32> {
    let pids = cgroup_ops::pids(root, &p.container_id)?;
    if p.format == OutputFormat::Json {
        println!("{}", serde_json::to_string(&pids)?);
        return Ok(0);
    }
    let args: Vec<String> = if p.ps_options.is_empty() { vec!["-ef".into()] } else { p.ps_options.clone() };
    let out = std::process::Command::new("ps").args(&args).output().context("run ps")?;
    if !out.status.success() {
        bail!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let Some(col) = header.split_whitespace().position(|h| h == "PID") else {
        bail!("ps {}: no PID column in its output", args.join(" "));
    };
    println!("{header}");
    for line in lines {
        if line.split_whitespace().nth(col).and_then(|v| v.parse::<i32>().ok()).is_some_and(|pid| pids.contains(&pid)) {
            println!("{line}");
        }
    }
    Ok(0)
}

/// The resources of `update`: `--resources FILE|-`, else the flags.
fn resources(u: &Update) -> Result<LinuxResources> {
    if let Some(path) = &u.resources {
        let mut text = String::new();
        if path == Path::new("-") {
            std::io::stdin().read_to_string(&mut text).context("read resources from stdin")?;
        } else {
            text = std::fs::read_to_string(path).with_context(|| format!("read resources {path:?}"))?;
        }
        let mut de = serde_json::Deserializer::from_str(&text);
        return serde_path_to_error::deserialize(&mut de).map_err(|e| anyhow::anyhow!("invalid resources at {}: {}", e.path(), e.inner()));
    }
    let mut memory = serde_json::Map::new();
    let put = |m: &mut serde_json::Map<String, Value>, k: &str, v: Option<Value>| {
        if let Some(v) = v {
            m.insert(k.into(), v);
        }
    };
    put(&mut memory, "limit", u.memory.map(|v| json!(v)));
    put(&mut memory, "reservation", u.memory_reservation.map(|v| json!(v)));
    put(&mut memory, "swap", u.memory_swap.map(|v| json!(v)));
    let mut cpu = serde_json::Map::new();
    put(&mut cpu, "shares", u.cpu_share.map(|v| json!(v)));
    put(&mut cpu, "quota", u.cpu_quota.map(|v| json!(v)));
    put(&mut cpu, "period", u.cpu_period.map(|v| json!(v)));
    put(&mut cpu, "burst", u.cpu_burst.map(|v| json!(v)));
    put(&mut cpu, "realtimePeriod", u.cpu_rt_period.map(|v| json!(v)));
    put(&mut cpu, "realtimeRuntime", u.cpu_rt_runtime.map(|v| json!(v)));
    put(&mut cpu, "cpus", u.cpuset_cpus.clone().map(|v| json!(v)));
    put(&mut cpu, "mems", u.cpuset_mems.clone().map(|v| json!(v)));
    let mut r = serde_json::Map::new();
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(l) = u.pids_limit {
        r.insert("pids".into(), json!({"limit": l}));
    }
    if let Some(w) = u.blkio_weight {
        r.insert("blockIO".into(), json!({"weight": w}));
    }
    Ok(serde_json::from_value(Value::Object(r))?)
}

pub fn update(root: &Path, u: &Update) -> Result<i32> {
    if u.mem_bw_schema.is_some() || u.l3_cache_schema.is_some() {
        bail!("intelRdt updates are not supported");
    }
    cgroup_ops::update(root, &u.container_id, &resources(u)?)?;
    Ok(0)
}

pub fn events(root: &Path, e: &Events) -> Result<i32> {
    let id = &e.container_id;
    let event = |stats: libcgroups::Stats| json!({"type": "stats", "id": id, "data": stats});
    if e.stats {
        println!("{}", event(cgroup_ops::stats(root, id)?));
        return Ok(0);
    }
    let mut oom = cgroup_ops::oom_watch(root, id)?;
    let mut next_stats = std::time::Instant::now();
    loop {
        if std::time::Instant::now() >= next_stats {
            match cgroup_ops::stats(root, id) {
                Ok(s) => println!("{}", event(s)),
                // The container went away: the stream ends, as runc's does.
                Err(libcontainer::ContainerError::BadStatus { .. }) | Err(libcontainer::ContainerError::State(_)) => return Ok(0),
                Err(err) => return Err(err.into()),
            }
            next_stats += e.interval;
        }
        let wait = next_stats.saturating_duration_since(std::time::Instant::now());
        let Some(watch) = oom.as_mut() else {
            std::thread::sleep(wait);
            continue;
        };
        let mut fds = [nix::poll::PollFd::new(watch.fd(), nix::poll::PollFlags::POLLIN)];
        let ms = wait.as_millis().min(u16::MAX as u128) as u16;
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).unwrap_or(0) > 0 && watch.consume() {
            println!("{}", json!({"type": "oom", "id": id}));
        }
    }
}
