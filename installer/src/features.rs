//! What this node can do for youki, as node labels `youki.dev/feature.<name>=true`, so a
//! RuntimeClass (or a pod's nodeSelector) can aim at the nodes that have a feature.
//!
//! `Features` is probed once in `run` (`probe`); `labels` turns it into the labels to set and
//! the ones to remove (a feature the node lost is unlabelled), and is pure. The probes:
//! - `cgroup-v2`: the cgroup filesystem's type (cgroup2 on a unified host);
//! - `idmapped-mounts`: `mount_setattr(MOUNT_ATTR_IDMAP)` on a detached copy of a directory on
//!   the kubelet's filesystem (a copy from `open_tree`, never attached anywhere), with the user
//!   namespace of a child made for the probe;
//! - `seccomp-notify`: `youki features` lists `SCMP_ACT_NOTIFY` with seccomp enabled;
//! - `criu`: a `criu` binary in the host's usual directories;
//! - `wasm` and `wasm-<executor>`: the executors that `youki-wasm features` (the binary
//!   behind the `youki-wasm` handler) names in the `io.github.youki.executors` annotation,
//!   other than `default`. A node without that handler has no wasm label, whatever the
//!   `youki` binary was built with: the label is what the `youki-wasm` RuntimeClass selects.

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use crate::hostfs::HostRoot;

/// The prefix of every feature label.
pub const FEATURE_PREFIX: &str = "youki.dev/feature.";
/// Where a host keeps criu, as the host sees them.
const CRIU_PATHS: [&str; 4] = ["/usr/sbin/criu", "/usr/bin/criu", "/usr/local/sbin/criu", "/usr/local/bin/criu"];
/// Feature names that are always decided (set or removed) on every probe.
const FIXED: [&str; 5] = ["cgroup-v2", "idmapped-mounts", "seccomp-notify", "criu", "wasm"];
/// Executors a youki build may have, so a node that lost one is unlabelled.
const KNOWN_EXECUTORS: [&str; 3] = ["wasmtime", "wasmer", "wasmedge"];

/// What the node can do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    pub cgroup_v2: bool,
    pub idmapped_mounts: bool,
    pub seccomp_notify: bool,
    pub criu: bool,
    /// Executors other than `default`, as `youki features` names them.
    pub wasm_executors: Vec<String>,
}

/// The labels for `f`: `Some("true")` to set, `None` to remove. Names are label-safe
/// (lowercase letters, digits and `-`); an executor with any other character is left out.
pub fn labels(f: &Features) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    let mut put = |name: &str, on: bool| {
        out.insert(format!("{FEATURE_PREFIX}{name}"), on.then(|| "true".to_string()));
    };
    let safe = |e: &str| !e.is_empty() && e.len() <= 40 && e.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let executors: Vec<&str> = f.wasm_executors.iter().map(String::as_str).filter(|e| safe(e)).collect();
    for (name, on) in FIXED.iter().zip([f.cgroup_v2, f.idmapped_mounts, f.seccomp_notify, f.criu, !executors.is_empty()]) {
        put(name, on);
    }
    for e in KNOWN_EXECUTORS {
        put(&format!("wasm-{e}"), false);
    }
    for e in executors {
        put(&format!("wasm-{e}"), true);
    }
    out
}

/// What `youki features` (its JSON) says about seccomp notify and the wasm executors.
pub fn from_youki_features(json: &str) -> (bool, Vec<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(json) else {
        return (false, Vec::new());
    };
    let seccomp = &v["linux"]["seccomp"];
    let notify = seccomp["enabled"].as_bool() == Some(true)
        && seccomp["actions"].as_array().is_some_and(|a| a.iter().any(|x| x.as_str() == Some("SCMP_ACT_NOTIFY")));
    let executors = v["annotations"]["io.github.youki.executors"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty() && *e != "default")
        .map(str::to_string)
        .collect();
    (notify, executors)
}

/// Probes the node: `youki` is the binary to ask for seccomp notify (`youki features`),
/// `wasm` the wasm build behind the `youki-wasm` handler (None: no such handler), `cgroup`
/// the cgroup filesystem as the installer sees it. A probe that cannot run counts as absent.
pub fn probe(host: &HostRoot, youki: &Path, wasm: Option<&Path>, cgroup: &Path) -> Features {
    let cgroup_v2 = nix::sys::statfs::statfs(cgroup).map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC).unwrap_or(false);
    let kubelet = host.pod_path(Path::new("/var/lib/kubelet")).unwrap_or_else(|_| host.shown(Path::new("/")));
    let idmapped_mounts = idmap_probe(&kubelet).unwrap_or(false);
    let criu = CRIU_PATHS.iter().any(|p| host.exists(Path::new(p)));
    let ask = |binary: &Path| {
        Command::new(binary)
            .arg("features")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| from_youki_features(&String::from_utf8_lossy(&o.stdout)))
            .unwrap_or_default()
    };
    let (seccomp_notify, _) = ask(youki);
    let wasm_executors = wasm.map(|w| ask(w).1).unwrap_or_default();
    Features { cgroup_v2, idmapped_mounts, seccomp_notify, criu, wasm_executors }
}

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
const OPEN_TREE_CLONE: libc::c_uint = 1;

fn last_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Whether `dir`'s filesystem takes an idmapped mount: a detached clone of `dir` (never
/// attached, gone when its fd closes) gets `MOUNT_ATTR_IDMAP` with the user namespace of a
/// child that exists only for the probe.
pub fn idmap_probe(dir: &Path) -> std::io::Result<bool> {
    let userns = ProbeUserNs::new()?;
    let c_dir =
        std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: open_tree with a valid C string; the returned fd is owned below.
    let tree =
        unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c_dir.as_ptr(), OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint) };
    if tree < 0 {
        return Err(last_error());
    }
    // SAFETY: a new fd from open_tree, owned by nobody else.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.fd.as_raw_fd() as u64 };
    // SAFETY: mount_setattr on our detached tree with an empty path and a valid attr struct.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Ok(r == 0)
}

/// A child in a new user namespace (root mapped to 100000..165535), kept alive while the
/// namespace's fd is opened; killed and reaped on drop.
struct ProbeUserNs {
    fd: OwnedFd,
    child: nix::unistd::Pid,
}

impl ProbeUserNs {
    fn new() -> std::io::Result<Self> {
        let (ready_r, ready_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(std::io::Error::from)?;
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: the child only makes async-signal-safe calls (prctl, getppid, unshare, write,
        // pause, _exit).
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(last_error());
        }
        if pid == 0 {
            // SAFETY: plain syscalls in the forked child, then _exit; never returns.
            unsafe {
                // It dies with the installer: an installer SIGKILLed meanwhile (a pod
                // deleted, a test's cleanup) must not leave it pausing forever with the
                // installer's stdio (CI once hung on a test's pipe it held).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong, 0, 0, 0);
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                let ok = libc::unshare(libc::CLONE_NEWUSER) == 0;
                let b = [u8::from(ok)];
                libc::write(ready_w.as_raw_fd(), b.as_ptr().cast(), 1);
                loop {
                    libc::pause();
                }
            }
        }
        drop(ready_w);
        let child = nix::unistd::Pid::from_raw(pid);
        let guard = Reap(child);
        let mut b = [0u8; 1];
        let n = nix::unistd::read(&ready_r, &mut b).map_err(std::io::Error::from)?;
        if n != 1 || b[0] != 1 {
            return Err(std::io::Error::other("the probe child could not unshare its user namespace"));
        }
        let proc = format!("/proc/{pid}");
        std::fs::write(format!("{proc}/uid_map"), "0 100000 65536\n")?;
        std::fs::write(format!("{proc}/gid_map"), "0 100000 65536\n")?;
        let fd = OwnedFd::from(std::fs::File::open(format!("{proc}/ns/user"))?);
        std::mem::forget(guard);
        Ok(ProbeUserNs { fd, child })
    }
}

/// Kills and reaps a probe child.
struct Reap(nix::unistd::Pid);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}

impl Drop for ProbeUserNs {
    fn drop(&mut self) {
        drop(Reap(self.child));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(l: &BTreeMap<String, Option<String>>) -> Vec<&str> {
        l.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k.as_str()).collect()
    }

    #[test]
    fn each_feature_gives_its_label_and_the_rest_are_removed() {
        let f = Features {
            cgroup_v2: true,
            idmapped_mounts: false,
            seccomp_notify: true,
            criu: false,
            wasm_executors: vec!["wasmtime".into()],
        };
        let l = labels(&f);
        assert_eq!(
            on(&l),
            [
                "youki.dev/feature.cgroup-v2",
                "youki.dev/feature.seccomp-notify",
                "youki.dev/feature.wasm",
                "youki.dev/feature.wasm-wasmtime",
            ]
        );
        assert_eq!(l["youki.dev/feature.idmapped-mounts"], None);
        assert_eq!(l["youki.dev/feature.criu"], None);
        assert_eq!(l["youki.dev/feature.wasm-wasmer"], None);
        assert_eq!(l["youki.dev/feature.cgroup-v2"].as_deref(), Some("true"));
    }

    #[test]
    fn a_node_with_nothing_removes_every_label() {
        let l = labels(&Features::default());
        assert!(on(&l).is_empty());
        assert!(l.contains_key("youki.dev/feature.wasm"));
        assert!(l.contains_key("youki.dev/feature.wasm-wasmtime"));
    }

    #[test]
    fn an_executor_name_that_is_not_label_safe_is_left_out() {
        let f = Features { wasm_executors: vec!["Bad/Name".into()], ..Features::default() };
        assert!(on(&labels(&f)).is_empty());
    }

    #[test]
    fn youki_features_gives_seccomp_notify_and_the_executors() {
        let json = r#"{"annotations":{"io.github.youki.executors":"wasmtime,default"},
                       "linux":{"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_NOTIFY"]}}}"#;
        assert_eq!(from_youki_features(json), (true, vec!["wasmtime".to_string()]));
        let plain = r#"{"annotations":{"io.github.youki.executors":"default"},
                        "linux":{"seccomp":{"enabled":false,"actions":["SCMP_ACT_NOTIFY"]}}}"#;
        assert_eq!(from_youki_features(plain), (false, Vec::new()));
        assert_eq!(from_youki_features("not json"), (false, Vec::new()));
    }

    #[test]
    fn the_idmap_probe_answers_and_leaves_no_child() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // Whether the answer is yes depends on the kernel and the filesystem; it must answer.
        let answer = idmap_probe(dir.path());
        eprintln!("idmap probe on {}: {answer:?}", dir.path().display());
        assert!(answer.is_ok(), "{answer:?}");
        // procfs never takes an idmapped mount: a clear no, not an error.
        assert!(!idmap_probe(Path::new("/proc")).expect("probe /proc"));
        // A path that does not exist is an error, not a panic.
        assert!(idmap_probe(Path::new("/nonexistent-youki-probe")).is_err());
    }
}
