//! The per-case context: unique ids, bundles, runtime calls, and the cleanup that runs after
//! every case, pass or fail, and reports anything the runtime left behind.

use crate::bundle::{make_dir, Assets, Bundle};
use crate::cgroup_driver::{CgroupDriver, Placement};
use crate::facts::{self, Facts};
use crate::host;
use crate::runtime::{Call, Output, Runtime};
use crate::spec;
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Everything shared by the cases of one suite run.
pub struct Suite {
    pub rt: Runtime,
    pub assets: Assets,
    /// The run's private temp dir: runtime root, bundles, logs.
    pub base: PathBuf,
    /// Starts every container id of this run (`conf<harness pid>`).
    pub tag: String,
    /// How cgroupsPath is written for the runtime's cgroup driver, and where it lands.
    pub cgroups: CgroupDriver,
    /// The harness's own namespaces: the runtime namespaces.
    pub host_ns: BTreeMap<String, String>,
}

pub struct Ctx<'s> {
    pub suite: &'s Suite,
    /// This case's temp dir.
    pub dir: PathBuf,
    prefix: String,
    next: u32,
    ids: Vec<String>,
    helpers: Vec<Child>,
    host_mounts: Vec<PathBuf>,
}

impl<'s> Ctx<'s> {
    pub fn new(suite: &'s Suite, index: usize) -> Result<Ctx<'s>> {
        let dir = suite.base.join(format!("case-{index:03}"));
        make_dir(&dir)?;
        let prefix = format!("{}-{index:03}-", suite.tag);
        Ok(Ctx { suite, dir, prefix, next: 0, ids: Vec::new(), helpers: Vec::new(), host_mounts: Vec::new() })
    }

    pub fn rt(&self) -> &Runtime {
        &self.suite.rt
    }

    /// A fresh container id, remembered for cleanup.
    pub fn id(&mut self) -> String {
        self.next += 1;
        let id = format!("{}{}", self.prefix, self.next);
        self.ids.push(id.clone());
        id
    }

    /// A path in this case's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// A bundle with a fresh rootfs and the base config.
    pub fn bundle(&mut self) -> Result<Bundle> {
        self.next += 1;
        let dir = self.dir.join(format!("bundle-{}", self.next));
        make_dir(&dir)?;
        Bundle::create(dir, &self.suite.assets, spec::base()?)
    }

    /// The cgroupsPath for a container id under the suite's parent (or in its systemd
    /// slice), and the cgroup path the container's processes must then show.
    pub fn placement(&self, id: &str) -> Placement {
        self.suite.cgroups.placement(id)
    }

    /// The cgroup (as /proc/<pid>/cgroup shows it) of a container placed by `place_in_cgroup`.
    pub fn cgroup_path_for(&self, id: &str) -> String {
        self.placement(id).cgroup
    }

    /// Sets the bundle's cgroupsPath for `id` and returns the container's cgroup path.
    pub fn place_in_cgroup(&self, bundle: &mut Bundle, id: &str) -> Result<String> {
        let p = self.placement(id);
        spec::set(&mut bundle.config, "/linux/cgroupsPath", serde_json::json!(p.spec_value))?;
        Ok(p.cgroup)
    }

    pub fn call(&self, args: &[&str]) -> Result<Output> {
        self.rt().call(&self.dir, args, Call::default())
    }

    pub fn call_with(&self, args: &[&str], call: Call) -> Result<Output> {
        self.rt().call(&self.dir, args, call)
    }

    /// `run --bundle B ID` in the foreground with a fresh id.
    pub fn run(&mut self, bundle: &Bundle) -> Result<(String, Output)> {
        let id = self.id();
        let out = self.run_as(bundle, &id, &[])?;
        Ok((id, out))
    }

    pub fn run_as(&mut self, bundle: &Bundle, id: &str, flags: &[&str]) -> Result<Output> {
        bundle.write()?;
        let dir = bundle.dir.to_string_lossy().into_owned();
        let mut args = vec!["run", "--bundle", &dir];
        args.extend_from_slice(flags);
        args.push(id);
        self.call(&args)
    }

    /// Runs the checker with extra arguments and returns its facts; fails unless it exits 0.
    pub fn checker(&mut self, bundle: &mut Bundle, extra: &[&str]) -> Result<Facts> {
        spec::checker_args(&mut bundle.config, extra)?;
        let (_, out) = self.run(bundle)?;
        let out = out.ok("running the checker")?;
        facts::parse(&out.stdout)
    }

    pub fn create(&mut self, bundle: &Bundle, id: &str, flags: &[&str]) -> Result<Output> {
        bundle.write()?;
        let dir = bundle.dir.to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", &dir];
        args.extend_from_slice(flags);
        args.push(id);
        self.call(&args)
    }

    pub fn start(&self, id: &str) -> Result<Output> {
        self.call(&["start", id])
    }

    pub fn kill(&self, id: &str, signal: &str) -> Result<Output> {
        self.call(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Result<Output> {
        self.call(&["delete", id])
    }

    /// `state ID` parsed; fails when the runtime errors or prints no JSON.
    pub fn state(&self, id: &str) -> Result<Value> {
        let out = self.call(&["state", id])?.ok("state")?;
        serde_json::from_str(&out.stdout).with_context(|| format!("parsing state output {:?}", out.stdout))
    }

    /// Polls `state` until the status is `want`.
    pub fn wait_status(&self, id: &str, want: &str, limit: Duration) -> Result<Value> {
        let started = Instant::now();
        loop {
            let state = self.state(id)?;
            if state["status"] == want {
                return Ok(state);
            }
            if started.elapsed() > limit {
                bail!("container {id} did not reach status {want:?} within {limit:?}; last state: {state}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the runtime still keeps state for an id (runc and youki keep `<root>/<id>`).
    pub fn state_dir_exists(&self, id: &str) -> bool {
        self.rt().root.join(id).exists()
    }

    /// Starts a host helper process that is killed at cleanup.
    pub fn spawn_helper(&mut self, program: &str, args: &[&str]) -> Result<u32> {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning helper {program} {args:?}"))?;
        let pid = child.id();
        self.helpers.push(child);
        Ok(pid)
    }

    /// Mounts a tmpfs on the host at `target` (inside this case's dir), unmounted at cleanup.
    pub fn host_tmpfs(&mut self, target: &Path) -> Result<()> {
        make_dir(target)?;
        nix::mount::mount(Some("conformance"), target, Some("tmpfs"), nix::mount::MsFlags::empty(), Some("size=1m"))
            .with_context(|| format!("mounting a tmpfs on the host at {}", target.display()))?;
        self.host_mounts.push(target.to_path_buf());
        Ok(())
    }

    /// Bind-mounts `source` on `target` on the host, unmounted at cleanup.
    pub fn host_bind(&mut self, source: &Path, target: &Path) -> Result<()> {
        nix::mount::mount(Some(source), target, None::<&str>, nix::mount::MsFlags::MS_BIND, None::<&str>)
            .with_context(|| format!("bind-mounting {} on {}", source.display(), target.display()))?;
        self.host_mounts.push(target.to_path_buf());
        Ok(())
    }

    /// Bind-mounts `dir` onto itself on the host and makes it a shared mount (its own peer
    /// group), as a container manager's rootfs usually is; unmounted at cleanup.
    pub fn host_shared_bind(&mut self, dir: &Path) -> Result<()> {
        use nix::mount::{mount, MsFlags};
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .with_context(|| format!("bind-mounting {} onto itself", dir.display()))?;
        self.host_mounts.push(dir.to_path_buf());
        mount(None::<&str>, dir, None::<&str>, MsFlags::MS_SHARED, None::<&str>)
            .with_context(|| format!("making {} shared", dir.display()))?;
        Ok(())
    }

    /// Deletes leftover containers, stops helpers, undoes host mounts, removes the temp dir,
    /// and returns what the runtime left behind.
    pub fn finish(mut self) -> Vec<String> {
        let mut leaks = Vec::new();
        let mut refused = Vec::new();
        for id in std::mem::take(&mut self.ids) {
            if self.state_dir_exists(&id) {
                // What a failed delete said goes with the leak it leaves, so a rare one
                // (seen once in the systemd VM lane) tells its cause.
                match self.call(&["delete", "--force", &id]) {
                    Ok(out) if !out.success() => refused.push(format!("delete --force {id} exited {:?}: {}", out.code, out.stderr.trim())),
                    Err(e) => refused.push(format!("delete --force {id}: {e:#}")),
                    Ok(_) => {}
                }
            }
        }
        for mut child in std::mem::take(&mut self.helpers) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for target in self.host_mounts.iter().rev() {
            let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
        }
        let left = self.leftovers();
        if !left.is_empty() {
            leaks.extend(refused);
        }
        leaks.extend(left);
        if let Ok(stray) = host::mounts_under(&self.dir) {
            for target in stray.iter().rev() {
                let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        if let Err(err) = fs::remove_dir_all(&self.dir) {
            leaks.push(format!("cannot remove the case dir {}: {err}", self.dir.display()));
        }
        leaks
    }

    /// Leftovers of any container of this case: state dirs, processes, cgroups, host mounts.
    pub fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        if let Ok(entries) = fs::read_dir(&self.rt().root) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with(&self.prefix) {
                    found.push(format!("state dir {} left in the runtime root", name));
                }
            }
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        let mut procs = host::processes_naming(&self.prefix);
        while !procs.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            procs = host::processes_naming(&self.prefix);
        }
        found.extend(procs.into_iter().map(|p| format!("process left behind: {p}")));
        match self.cgroup_dirs_with_prefix() {
            Ok(dirs) => found.extend(dirs.into_iter().map(|d| format!("cgroup dir left behind: {}", d.display()))),
            Err(err) => found.push(format!("cannot check cgroups: {err:#}")),
        }
        match host::mounts_under(&self.dir) {
            Ok(mounts) => found.extend(mounts.into_iter().map(|m| format!("host mount left behind: {}", m.display()))),
            Err(err) => found.push(format!("cannot check host mounts: {err:#}")),
        }
        found
    }

    /// Cgroup dirs named after this case's ids (`ID`, or a systemd scope `PREFIX-ID.scope`):
    /// under the suite parent or slice, the runtime's own cgroup (relative paths) or a
    /// hierarchy root.
    fn cgroup_dirs_with_prefix(&self) -> Result<Vec<PathBuf>> {
        let mut parents = self.suite.cgroups.parents();
        parents.push("/".to_string());
        parents.extend(host::own_cgroups()?.into_values());
        let mut found = Vec::new();
        for h in host::hierarchies()? {
            for parent in &parents {
                let Ok(entries) = fs::read_dir(h.dir(parent)) else {
                    continue;
                };
                for e in entries.flatten() {
                    if e.file_name().to_string_lossy().contains(&self.prefix) && e.path().is_dir() {
                        found.push(e.path());
                    }
                }
            }
        }
        found.sort();
        found.dedup();
        Ok(found)
    }
}
