//! The in-container checker: runs as the container's process, prints one JSON object of facts
//! about its own environment to stdout, and exits 0 (or the code given with `--exit`).
//!
//! Usage: `/checker [--read PATH] [--stat PATH] [--ls PATH] [--write-test PATH]
//!                  [--sleep SECS] [--exit CODE]` (every path flag may repeat).
//! It is static and uses std and libc only, because the rootfs holds nothing but busybox.

#[path = "checker/json.rs"]
mod json;
#[path = "checker/mempolicy.rs"]
mod mempolicy;
#[path = "checker/probe.rs"]
mod probe;
#[path = "checker/procfs.rs"]
mod procfs;
#[path = "checker/sched.rs"]
mod sched;

use json::Json;
use std::ffi::CStr;
use std::fs;
use std::io::Write;

/// Everything asked for on the command line.
#[derive(Debug, Default, PartialEq)]
struct Request {
    reads: Vec<String>,
    stats: Vec<String>,
    lists: Vec<String>,
    write_tests: Vec<String>,
    sleep_secs: u64,
    exit_code: i32,
}

fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut req = Request::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--read" => req.reads.push(value()?),
            "--stat" => req.stats.push(value()?),
            "--ls" => req.lists.push(value()?),
            "--write-test" => req.write_tests.push(value()?),
            "--sleep" => req.sleep_secs = value()?.parse().map_err(|e| format!("--sleep: {e}"))?,
            "--exit" => req.exit_code = value()?.parse().map_err(|e| format!("--exit: {e}"))?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(req)
}

fn read_text(path: &str) -> Option<String> {
    fs::read_to_string(path).ok()
}

fn opt_str(value: Option<String>) -> Json {
    value.map_or(Json::Null, Json::Str)
}

fn cstr_field(field: &[libc::c_char]) -> String {
    // SAFETY: uname(2) NUL-terminates every utsname field within its array.
    unsafe { CStr::from_ptr(field.as_ptr()) }.to_string_lossy().into_owned()
}

fn uname() -> Option<(String, String)> {
    // SAFETY: utsname is plain data; uname fills it and returns 0 on success.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    Some((cstr_field(&uts.nodename), cstr_field(&uts.domainname)))
}

fn supplementary_groups() -> Vec<u32> {
    // SAFETY: the first call only counts; the second fills a buffer of that size.
    let count = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if count <= 0 {
        return Vec::new();
    }
    let mut groups = vec![0 as libc::gid_t; count as usize];
    let got = unsafe { libc::getgroups(count, groups.as_mut_ptr()) };
    groups.truncate(got.max(0) as usize);
    groups
}

const NAMESPACES: [&str; 10] = ["cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"];

fn namespaces() -> Json {
    let links = NAMESPACES.iter().map(|name| {
        let link = fs::read_link(format!("/proc/self/ns/{name}")).ok();
        let text = link.map(|l| l.to_string_lossy().into_owned());
        (name.to_string(), opt_str(text))
    });
    Json::Obj(links.collect())
}

const RLIMITS: [(&str, libc::__rlimit_resource_t); 16] = [
    ("RLIMIT_CPU", libc::RLIMIT_CPU),
    ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
    ("RLIMIT_DATA", libc::RLIMIT_DATA),
    ("RLIMIT_STACK", libc::RLIMIT_STACK),
    ("RLIMIT_CORE", libc::RLIMIT_CORE),
    ("RLIMIT_RSS", libc::RLIMIT_RSS),
    ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
    ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
    ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
    ("RLIMIT_AS", libc::RLIMIT_AS),
    ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
    ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
    ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
    ("RLIMIT_NICE", libc::RLIMIT_NICE),
    ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
    ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
];

fn rlimits() -> Json {
    let mut out = Vec::new();
    for (name, resource) in RLIMITS {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(resource, &mut lim) } == 0 {
            let value = Json::Obj(vec![("soft".into(), Json::num(lim.rlim_cur)), ("hard".into(), Json::num(lim.rlim_max))]);
            out.push((name.to_string(), value));
        }
    }
    Json::Obj(out)
}

fn status_facts(status: &str) -> Vec<(String, Json)> {
    let field = |key: &str| opt_str(procfs::status_field(status, key).map(str::to_string));
    let caps = Json::Obj(vec![
        ("inheritable".into(), field("CapInh")),
        ("permitted".into(), field("CapPrm")),
        ("effective".into(), field("CapEff")),
        ("bounding".into(), field("CapBnd")),
        ("ambient".into(), field("CapAmb")),
    ]);
    vec![
        ("umask".into(), field("Umask")),
        ("caps".into(), caps),
        ("no_new_privs".into(), field("NoNewPrivs")),
        ("seccomp".into(), field("Seccomp")),
    ]
}

/// Open descriptors and what they point at. The directory handle used for the listing is
/// closed before the links are read, so it drops out of the answer.
fn open_fds() -> Json {
    let numbers: Vec<u32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect(),
        Err(_) => return Json::Null,
    };
    let mut out = Vec::new();
    for fd in numbers {
        if let Ok(target) = fs::read_link(format!("/proc/self/fd/{fd}")) {
            out.push((fd.to_string(), Json::str(target.to_string_lossy())));
        }
    }
    out.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
    Json::Obj(out)
}

fn isatty(fd: i32) -> Json {
    // SAFETY: isatty only inspects the descriptor.
    Json::Bool(unsafe { libc::isatty(fd) } == 1)
}

fn per_path(paths: &[String], answer: fn(&str) -> Json) -> Json {
    Json::Obj(paths.iter().map(|p| (p.clone(), answer(p))).collect())
}

fn collect(args: Vec<String>, req: &Request) -> Json {
    let (hostname, uts_domain) = uname().unzip();
    let domainname = read_text("/proc/sys/kernel/domainname").map(|d| d.trim_end_matches('\n').to_string()).or(uts_domain);
    let status = read_text("/proc/self/status").unwrap_or_default();
    let mounts =
        read_text("/proc/self/mountinfo").map(|text| Json::Arr(procfs::parse_mountinfo(&text).iter().map(|m| m.to_json()).collect()));
    let cgroup = read_text("/proc/self/cgroup").map(|t| Json::strs(t.lines()));
    let oom = read_text("/proc/self/oom_score_adj").and_then(|t| t.trim().parse::<i32>().ok());
    let env = std::env::vars_os().map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()));
    let cwd = std::env::current_dir().ok().map(|p| p.to_string_lossy().into_owned());

    // SAFETY: these id getters cannot fail.
    let (uid, gid, euid, egid, ppid) = unsafe { (libc::getuid(), libc::getgid(), libc::geteuid(), libc::getegid(), libc::getppid()) };
    let mut fields: Vec<(String, Json)> = vec![
        ("argv".into(), Json::strs(args)),
        ("pid".into(), Json::num(std::process::id())),
        ("ppid".into(), Json::num(ppid)),
        ("uid".into(), Json::num(uid)),
        ("gid".into(), Json::num(gid)),
        ("euid".into(), Json::num(euid)),
        ("egid".into(), Json::num(egid)),
        ("groups".into(), Json::Arr(supplementary_groups().into_iter().map(Json::num).collect())),
        ("cwd".into(), opt_str(cwd)),
        ("env".into(), Json::strs(env)),
        ("hostname".into(), opt_str(hostname)),
        ("domainname".into(), opt_str(domainname)),
        ("ns".into(), namespaces()),
        ("mounts".into(), mounts.unwrap_or(Json::Null)),
        ("rlimits".into(), rlimits()),
        ("cgroup".into(), cgroup.unwrap_or(Json::Null)),
        ("oom_score_adj".into(), oom.map_or(Json::Null, Json::num)),
    ];
    fields.extend(status_facts(&status));
    fields.extend(sched::facts());
    fields.extend(mempolicy::facts());
    fields.extend([
        ("tty".into(), Json::Obj(vec![("stdin".into(), isatty(0)), ("stdout".into(), isatty(1)), ("stderr".into(), isatty(2))])),
        ("fds".into(), open_fds()),
        ("read".into(), per_path(&req.reads, probe::read)),
        ("stat".into(), per_path(&req.stats, probe::stat)),
        ("ls".into(), per_path(&req.lists, probe::ls)),
        ("write_test".into(), per_path(&req.write_tests, probe::write_test)),
    ]);
    Json::Obj(fields)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let req = match parse_args(args.get(1..).unwrap_or_default()) {
        Ok(req) => req,
        Err(msg) => {
            eprintln!("checker: {msg}");
            std::process::exit(2);
        }
    };
    let facts = collect(args, &req).render();
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{facts}").and_then(|()| stdout.flush()) {
        eprintln!("checker: writing facts: {err}");
        std::process::exit(3);
    }
    drop(stdout);
    if req.sleep_secs > 0 {
        std::thread::sleep(std::time::Duration::from_secs(req.sleep_secs));
    }
    std::process::exit(req.exit_code);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_repeated_path_requests() {
        let req = parse_args(&strings(&["--read", "/a", "--read", "/b", "--stat", "/dev/null", "--exit", "4"])).expect("valid arguments");
        assert_eq!(req.reads, strings(&["/a", "/b"]));
        assert_eq!(req.stats, strings(&["/dev/null"]));
        assert_eq!(req.exit_code, 4);
    }

    #[test]
    fn rejects_unknown_or_incomplete_arguments() {
        assert!(parse_args(&strings(&["--bogus"])).is_err());
        assert!(parse_args(&strings(&["--ls"])).is_err());
        assert!(parse_args(&strings(&["--sleep", "x"])).is_err());
    }

    #[test]
    fn collects_facts_about_this_process() {
        let text = collect(strings(&["/checker"]), &Request::default()).render();
        assert!(text.starts_with(r#"{"argv":["/checker"],"pid":"#));
        assert!(text.contains(r#""mounts":[{"#));
        assert!(text.contains(r#""RLIMIT_NOFILE":{"soft":"#));
        assert!(text.contains(r#""sched":{"policy":"#), "{text}");
        assert!(text.contains(r#""cpus":[0"#), "{text}");
    }
}
