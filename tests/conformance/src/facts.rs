//! The checker's JSON report as typed facts, with the lookups the cases assert on.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
pub struct Facts {
    pub argv: Vec<String>,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub gid: u32,
    pub euid: u32,
    pub egid: u32,
    pub groups: Vec<u32>,
    pub cwd: Option<String>,
    pub env: Vec<String>,
    pub hostname: Option<String>,
    pub domainname: Option<String>,
    pub ns: BTreeMap<String, Option<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub rlimits: BTreeMap<String, Rlimit>,
    pub cgroup: Option<Vec<String>>,
    pub oom_score_adj: Option<i32>,
    pub umask: Option<String>,
    pub caps: Caps,
    pub no_new_privs: Option<String>,
    pub tty: Tty,
    pub fds: Option<BTreeMap<String, String>>,
    pub read: BTreeMap<String, PathAnswer>,
    pub stat: BTreeMap<String, PathAnswer>,
    pub ls: BTreeMap<String, PathAnswer>,
    pub write_test: BTreeMap<String, PathAnswer>,
    pub personality: Option<u64>,
    pub sched: Option<Sched>,
    pub ioprio: Option<IoPrio>,
    pub cpus: Option<Vec<u32>>,
    /// /proc/self/attr/current (the AppArmor or SELinux label), None when unreadable.
    pub lsm_label: Option<String>,
    /// get_mempolicy(2) of the checker; None from a checker that could not ask.
    #[serde(default)]
    pub mempolicy: Option<MemPolicy>,
}

/// get_mempolicy(2): the MPOL_* mode, the MPOL_F_* mode flags, and the node mask as a list.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct MemPolicy {
    pub mode: u32,
    pub flags: u32,
    pub nodes: Vec<u32>,
}

/// sched_getattr(2) of the checker.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Sched {
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

/// ioprio_get(2) of the checker.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct IoPrio {
    pub class: u32,
    pub level: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Mount {
    /// major:minor of the mounted filesystem.
    pub dev: String,
    pub mount_point: String,
    pub options: String,
    pub propagation: Vec<String>,
    pub fstype: String,
    pub super_options: String,
}

impl Mount {
    /// Whether a per-mount option (`ro`, `nosuid`...) is set.
    pub fn has_option(&self, opt: &str) -> bool {
        self.options.split(',').any(|o| o == opt)
    }

    /// The peer group of a shared mount (`shared:N`), or of the master of a slave (`master:N`).
    pub fn peer_group(&self, tag: &str) -> Option<u32> {
        self.propagation.iter().find_map(|p| p.strip_prefix(tag)?.strip_prefix(':')?.parse().ok())
    }

    /// Whether a superblock option (`size=65536k`, `mode=755`...) is set.
    pub fn has_super(&self, opt: &str) -> bool {
        self.super_options.split(',').any(|o| o == opt)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Rlimit {
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Deserialize)]
pub struct Caps {
    pub inheritable: Option<String>,
    pub permitted: Option<String>,
    pub effective: Option<String>,
    pub bounding: Option<String>,
    pub ambient: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Tty {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// The checker's answer for one requested path: the fact, or the errno that prevented it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PathAnswer {
    pub errno: Option<i32>,
    pub error: Option<String>,
    // --read
    pub content: Option<String>,
    // --stat
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub mode: Option<u32>,
    pub major: Option<u64>,
    pub minor: Option<u64>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub target: Option<String>,
    // --ls
    pub entries: Option<Vec<String>>,
    // --write-test
    pub ok: Option<bool>,
}

/// Finds the checker's JSON line in a process's output (a terminal adds `\r`).
pub fn parse(stdout: &str) -> Result<Facts> {
    let Some(line) = stdout.lines().map(str::trim).find(|l| l.starts_with('{')) else {
        bail!("no JSON object in the checker output {:?}", stdout.chars().take(300).collect::<String>());
    };
    serde_json::from_str(line).context("parsing the checker's JSON facts")
}

fn answer<'a>(map: &'a BTreeMap<String, PathAnswer>, path: &str, flag: &str) -> Result<&'a PathAnswer> {
    map.get(path).with_context(|| format!("the checker was not asked {flag} {path}"))
}

impl Facts {
    pub fn mounts(&self) -> &[Mount] {
        self.mounts.as_deref().unwrap_or_default()
    }

    /// The visible (last mounted) mount at a mount point.
    pub fn mount(&self, mount_point: &str) -> Option<&Mount> {
        self.mounts().iter().rev().find(|m| m.mount_point == mount_point)
    }

    pub fn require_mount(&self, mount_point: &str) -> Result<&Mount> {
        self.mount(mount_point).with_context(|| {
            let points: Vec<&str> = self.mounts().iter().map(|m| m.mount_point.as_str()).collect();
            format!("no mount at {mount_point} in the container; mount points: {points:?}")
        })
    }

    pub fn env_var(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }

    pub fn ns(&self, kind: &str) -> Option<&str> {
        self.ns.get(kind).and_then(Option::as_deref)
    }

    /// The content of a `--read` path; an error when the read failed.
    pub fn content(&self, path: &str) -> Result<&str> {
        let a = answer(&self.read, path, "--read")?;
        match &a.content {
            Some(c) => Ok(c),
            None => bail!("reading {path} in the container failed: {}", a.error.as_deref().unwrap_or("?")),
        }
    }

    pub fn read_answer(&self, path: &str) -> Result<&PathAnswer> {
        answer(&self.read, path, "--read")
    }

    /// The `--stat` answer; an error when lstat failed.
    pub fn stat(&self, path: &str) -> Result<&PathAnswer> {
        let a = answer(&self.stat, path, "--stat")?;
        if let Some(err) = &a.error {
            bail!("lstat {path} in the container failed: {err}");
        }
        Ok(a)
    }

    pub fn entries(&self, path: &str) -> Result<&[String]> {
        let a = answer(&self.ls, path, "--ls")?;
        match &a.entries {
            Some(e) => Ok(e),
            None => bail!("listing {path} in the container failed: {}", a.error.as_deref().unwrap_or("?")),
        }
    }

    pub fn write_answer(&self, path: &str) -> Result<&PathAnswer> {
        answer(&self.write_test, path, "--write-test")
    }

    pub fn rlimit(&self, name: &str) -> Result<Rlimit> {
        self.rlimits.get(name).copied().with_context(|| format!("the checker did not report {name}"))
    }

    /// The cgroup path of a v1 hierarchy (`memory`, `name=systemd`) or of v2 (`""`).
    pub fn cgroup_path(&self, controller: &str) -> Option<&str> {
        self.cgroup.as_deref()?.iter().find_map(|line| {
            let mut parts = line.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            let hit = if controller.is_empty() { names.is_empty() } else { names.split(',').any(|n| n == controller) };
            hit.then_some(path)
        })
    }
}

/// Parses a capability mask as shown in /proc/<pid>/status.
pub fn cap_hex(value: Option<&str>) -> Result<u64> {
    let text = value.context("the capability set is missing from the checker facts")?;
    u64::from_str_radix(text, 16).with_context(|| format!("capability mask {text:?} is not hex"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"argv":["/checker"],"pid":1,"ppid":0,"uid":0,"gid":0,"euid":0,"egid":0,"groups":[],
        "cwd":"/","env":["PATH=/bin","HOME=/root"],"hostname":"runc","domainname":"(none)",
        "ns":{"pid":"pid:[4026532190]","time":null},
        "mounts":[{"id":65,"parent":43,"dev":"254:0","root":"/r","mount_point":"/","options":"ro,relatime","propagation":[],"fstype":"ext4","source":"/dev/vda","super_options":"rw"},
                  {"id":67,"parent":65,"dev":"0:41","root":"/","mount_point":"/dev","options":"rw,nosuid","propagation":["shared:3"],"fstype":"tmpfs","source":"tmpfs","super_options":"rw,size=65536k,mode=755"}],
        "rlimits":{"RLIMIT_NOFILE":{"soft":1024,"hard":1024}},
        "cgroup":["4:memory:/a/b","9:name=systemd:/b","0::/b"],"oom_score_adj":0,"umask":"0022",
        "caps":{"inheritable":"0000000000000000","permitted":"0000000020000420","effective":"0000000020000420","bounding":"0000000020000420","ambient":"0000000000000000"},
        "no_new_privs":"1","seccomp":"0","tty":{"stdin":false,"stdout":false,"stderr":false},"fds":{"0":"/dev/null"},
        "read":{"/x":{"content":"1\n"},"/y":{"errno":2,"error":"No such file"}},
        "stat":{"/dev/null":{"type":"char","mode":438,"major":1,"minor":3,"uid":0,"gid":0,"size":0,"dev":5,"ino":4}},
        "ls":{},"write_test":{"/":{"ok":false,"errno":30,"error":"Read-only file system"}}}"#;

    fn sample() -> Facts {
        parse(&format!("noise\r\n{}\r\n", SAMPLE.replace('\n', " "))).expect("sample parses")
    }

    #[test]
    fn finds_mounts_env_and_namespaces() {
        let f = sample();
        let dev = f.require_mount("/dev").expect("mounted");
        assert!(dev.has_option("nosuid") && !dev.has_option("ro"));
        assert!(dev.has_super("size=65536k"));
        assert_eq!(dev.peer_group("shared"), Some(3));
        assert_eq!(dev.peer_group("master"), None);
        assert!(f.require_mount("/proc").is_err());
        assert_eq!(f.env_var("HOME"), Some("/root"));
        assert_eq!(f.env_var("HOM"), None);
        assert_eq!(f.ns("pid"), Some("pid:[4026532190]"));
        assert_eq!(f.ns("time"), None);
    }

    #[test]
    fn path_answers_distinguish_facts_from_errors() {
        let f = sample();
        assert_eq!(f.content("/x").expect("read"), "1\n");
        assert!(f.content("/y").is_err());
        assert!(f.content("/never-asked").is_err());
        assert_eq!(f.stat("/dev/null").expect("stat").major, Some(1));
        assert_eq!(f.write_answer("/").expect("asked").errno, Some(30));
    }

    #[test]
    fn cgroup_lines_by_controller() {
        let f = sample();
        assert_eq!(f.cgroup_path("memory"), Some("/a/b"));
        assert_eq!(f.cgroup_path("name=systemd"), Some("/b"));
        assert_eq!(f.cgroup_path(""), Some("/b"));
        assert_eq!(f.cgroup_path("pids"), None);
        assert_eq!(cap_hex(f.caps.effective.as_deref()).expect("hex"), 0x2000_0420);
    }

    #[test]
    fn output_without_json_is_an_error() {
        assert!(parse("exec failed\n").is_err());
    }
}
