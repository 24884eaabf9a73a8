//! Host files that are symlinks: a containerd config that links elsewhere (NixOS, config
//! management) is edited at its target and restored byte for byte with the link kept; links
//! that leave the host root resolve inside it; a target on a read-only mount is refused with
//! nothing changed; a symlinked binary directory never sends the binary outside the root.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use youki_installer::handler::Handlers;
use youki_installer::locate;
use youki_installer::node::Node;

const CONFIG: &str = "/etc/containerd/config.toml";

fn original() -> String {
    fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/containerd-v2.toml")).expect("fixture")
}

/// `top/` holds the host root (`top/root`), an "outside" tree the installer must never touch
/// (`top/outside`), and the source binaries (`top/src`).
struct Host {
    top: tempfile::TempDir,
}

impl Host {
    fn new() -> Self {
        let top = tempfile::tempdir().expect("tempdir");
        for d in ["root/opt", "root/run", "root/etc/containerd", "outside", "src"] {
            fs::create_dir_all(top.path().join(d)).expect("mkdir");
        }
        fs::write(top.path().join("src/youki"), b"#!/bin/sh\n").expect("youki");
        Host { top }
    }

    fn root(&self) -> PathBuf {
        self.top.path().join("root")
    }

    fn outside(&self) -> PathBuf {
        self.top.path().join("outside")
    }

    /// `host_path` in the test's filesystem.
    fn path(&self, host_path: &str) -> PathBuf {
        self.root().join(host_path.trim_start_matches('/'))
    }

    fn write(&self, host_path: &str, content: &str) {
        let p = self.path(host_path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        fs::write(p, content).expect("write");
    }

    fn link(&self, host_path: &str, target: &str) {
        let p = self.path(host_path);
        fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        symlink(target, p).expect("symlink");
    }

    fn node(&self) -> Node {
        Node {
            host_root: self.root(),
            target: locate::explicit(&self.root(), Path::new(CONFIG)),
            handlers: Handlers::default(),
            binaries: vec![self.top.path().join("src/youki")],
            dry_run: false,
            force: false,
        }
    }

    /// Every entry under `top` (root and outside): files with bytes, links with targets.
    fn snapshot(&self) -> BTreeMap<PathBuf, String> {
        fn walk(dir: &Path, base: &Path, out: &mut BTreeMap<PathBuf, String>) {
            for e in fs::read_dir(dir).expect("read dir").flatten() {
                let p = e.path();
                let rel = p.strip_prefix(base).expect("under base").to_path_buf();
                let meta = fs::symlink_metadata(&p).expect("lstat");
                if meta.file_type().is_symlink() {
                    let t = fs::read_link(&p).expect("readlink");
                    out.insert(rel, format!("-> {}", t.display()));
                } else if meta.is_dir() {
                    out.insert(rel, "<dir>".to_string());
                    walk(&p, base, out);
                } else if !rel.ends_with("run/youki-installer.lock") {
                    let bytes = fs::read(&p).expect("read");
                    out.insert(rel, String::from_utf8_lossy(&bytes).into_owned());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.top.path(), self.top.path(), &mut out);
        out
    }

    fn outside_is_untouched(&self, before: &[(PathBuf, String)]) {
        let now: Vec<(PathBuf, String)> = self.snapshot().into_iter().filter(|(p, _)| p.starts_with("outside")).collect();
        assert_eq!(now, before, "the installer wrote outside the host root");
    }

    fn outside_snapshot(&self) -> Vec<(PathBuf, String)> {
        self.snapshot().into_iter().filter(|(p, _)| p.starts_with("outside")).collect()
    }
}

/// Install edits `target` (a host path) through the link at CONFIG; the link stays as it
/// was; uninstall restores everything byte for byte.
fn edited_at_target(host: &Host, target: &str) {
    let link_before = fs::read_link(host.path(CONFIG)).expect("config is a link");
    let before = host.snapshot();
    let outside = host.outside_snapshot();
    let out = host.node().install().expect("install");
    assert!(out.config_changed, "{:?}", out.messages);
    assert_eq!(fs::read_link(host.path(CONFIG)).expect("still a link"), link_before, "the link was replaced");
    let edited = fs::read_to_string(host.path(target)).expect("target");
    assert!(edited.contains("youki"), "the target was not edited:\n{edited}");
    assert!(edited.contains("SystemdCgroup"), "the target lost its original content:\n{edited}");
    host.outside_is_untouched(&outside);
    assert!(host.node().status().expect("status").0);
    host.node().uninstall().expect("uninstall");
    assert_eq!(host.snapshot(), before, "uninstall must restore link and target");
}

#[test]
fn absolute_link_is_edited_at_its_target_inside_the_root() {
    let host = Host::new();
    host.write("/etc/static/containerd/config.toml", &original());
    host.link(CONFIG, "/etc/static/containerd/config.toml");
    edited_at_target(&host, "/etc/static/containerd/config.toml");
}

#[test]
fn relative_link_is_edited_at_its_target() {
    let host = Host::new();
    host.write("/usr/share/containerd/config.toml", &original());
    host.link(CONFIG, "../../usr/share/containerd/config.toml");
    edited_at_target(&host, "/usr/share/containerd/config.toml");
}

#[test]
fn chained_links_through_a_linked_directory() {
    let host = Host::new();
    host.write("/srv/cm/containerd/real.toml", &original());
    // /etc/cm -> /srv/cm (absolute), config.toml -> ../cm/containerd/alias.toml -> real.toml
    host.link("/etc/cm", "/srv/cm");
    host.link("/srv/cm/containerd/alias.toml", "real.toml");
    host.link(CONFIG, "../cm/containerd/alias.toml");
    edited_at_target(&host, "/srv/cm/containerd/real.toml");
}

#[test]
fn relative_link_that_climbs_out_of_the_root_stays_inside() {
    let host = Host::new();
    // Outside the root, at top/outside/config.toml, a decoy the link would reach if it were
    // followed in the installer's own filesystem.
    fs::write(host.outside().join("config.toml"), "decoy = true\n").expect("decoy");
    let ups = "../".repeat(host.root().components().count() + 4);
    let rel_outside = host.outside().join("config.toml");
    let target = format!("{ups}{}", rel_outside.to_string_lossy().trim_start_matches('/'));
    // Inside the root, the same path holds the real config.
    let inside = rel_outside.to_string_lossy().into_owned();
    host.write(&inside, &original());
    host.link(CONFIG, &target);
    edited_at_target(&host, &inside);
    assert_eq!(fs::read_to_string(host.outside().join("config.toml")).expect("decoy"), "decoy = true\n");
}

#[test]
fn absolute_link_to_a_path_outside_resolves_inside_the_root() {
    let host = Host::new();
    let outside = host.outside().join("config.toml");
    fs::write(&outside, "decoy = true\n").expect("decoy");
    // Inside the root nothing is at that path: the config counts as absent, and the new file
    // is created at the link's target inside the root (the link stays).
    host.link(CONFIG, &outside.to_string_lossy());
    let before = host.snapshot();
    let out = host.node().install().expect("install");
    assert!(out.config_changed);
    assert_eq!(fs::read_to_string(&outside).expect("decoy"), "decoy = true\n");
    assert!(fs::symlink_metadata(host.path(CONFIG)).expect("lstat").file_type().is_symlink());
    let inside = host.path(&outside.to_string_lossy());
    assert!(fs::read_to_string(&inside).expect("created inside").contains("youki"));
    host.node().uninstall().expect("uninstall");
    let mut after = host.snapshot();
    // The directories made for the link's target inside the root stay (empty).
    after.retain(|p, v| v != "<dir>" || before.contains_key(p));
    assert_eq!(after, before);
}

#[test]
fn binary_dir_linked_outside_stays_inside_the_root() {
    for target in ["abs", "rel"] {
        let host = Host::new();
        host.write(CONFIG, &original());
        let outside = host.outside();
        let link = match target {
            "abs" => outside.to_string_lossy().into_owned(),
            _ => format!("{}{}", "../".repeat(host.root().components().count() + 4), outside.to_string_lossy().trim_start_matches('/')),
        };
        fs::create_dir_all(host.path(&outside.to_string_lossy())).expect("mkdir inside");
        host.link("/opt/youki", &link);
        let before = host.outside_snapshot();
        host.node().install().expect("install");
        host.outside_is_untouched(&before);
        let placed = host.path(&format!("{}/bin/youki", outside.to_string_lossy()));
        assert!(placed.is_file(), "{target}: binary not placed at {placed:?}");
        host.node().uninstall().expect("uninstall");
        host.outside_is_untouched(&before);
    }
}

/// A read-only mount (tmpfs, remounted ro) at `dir`, unmounted on drop.
struct ReadOnlyMount(PathBuf);

impl ReadOnlyMount {
    /// None when mounting is not permitted here (not root).
    fn new(dir: &Path, files: &[(&str, &str)]) -> Option<Self> {
        use nix::mount::{mount, MsFlags};
        fs::create_dir_all(dir).expect("mkdir");
        if let Err(e) = mount(Some("tmpfs"), dir, Some("tmpfs"), MsFlags::empty(), None::<&str>) {
            eprintln!("skipped: cannot mount tmpfs ({e})");
            return None;
        }
        let m = ReadOnlyMount(dir.to_path_buf());
        for (name, content) in files {
            fs::write(dir.join(name), content).expect("write");
        }
        mount(None::<&str>, dir, None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None::<&str>).expect("remount ro");
        Some(m)
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[test]
fn a_link_into_a_read_only_store_is_refused_and_nothing_changes() {
    let host = Host::new();
    let store = host.path("/nix/store/abc-containerd-config");
    let Some(_ro) = ReadOnlyMount::new(&store, &[("config.toml", &original())]) else {
        return;
    };
    host.link(CONFIG, "/nix/store/abc-containerd-config/config.toml");
    let before = host.snapshot();
    let err = host.node().install().expect_err("read-only target");
    let msg = err.to_string();
    assert!(msg.contains("/nix/store/abc-containerd-config/config.toml") && msg.contains("read-only filesystem"), "{msg}");
    assert_eq!(host.snapshot(), before, "a refused install changes nothing");
}
