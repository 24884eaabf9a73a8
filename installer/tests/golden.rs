//! Golden tests of the config edit: each fixture, the expected file after install, and the
//! way back. `UPDATE_GOLDEN=1 cargo test -p youki-installer --test golden` rewrites the
//! expected files; review the diff before keeping it.

use std::path::{Path, PathBuf};

use youki_installer::config::{self, Layout};
use youki_installer::handler::Handlers;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("read fixture {name}: {e}"))
}

/// Compares `actual` with the golden file `name`, or rewrites it under UPDATE_GOLDEN.
fn golden(name: &str, actual: &str) {
    let path = fixtures().join("golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("create golden dir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read golden {name}: {e}"));
    if expected != actual {
        let diff = similar::TextDiff::from_lines(expected.as_str(), actual).unified_diff().header("expected", "actual").to_string();
        panic!("golden {name} differs:\n{diff}");
    }
}

/// Installs into fixture `input`, checks the golden file, then checks that a second install
/// changes nothing and that the uninstall edit gives the original back.
fn case(layout: Layout, input: Option<&str>, context: Option<&str>, expected: &str) -> String {
    case_with(&Handlers::default(), layout, input, context, expected)
}

/// `case` with both handlers, `youki` and `youki-wasm`, as on a node whose image ships the
/// wasm build.
fn wasm_case(layout: Layout, input: Option<&str>, context: Option<&str>, expected: &str) -> String {
    case_with(&Handlers::new(true), layout, input, context, expected)
}

fn case_with(handlers: &Handlers, layout: Layout, input: Option<&str>, context: Option<&str>, expected: &str) -> String {
    let path = Path::new("/etc/containerd/config.toml");
    let original = input.map(read);
    let context = context.map(read);
    let installed = config::install(&layout, path, original.as_deref(), context.as_deref(), handlers).expect("install");
    golden(expected, &installed);
    let again = config::install(&layout, path, Some(&installed), context.as_deref(), handlers).expect("reinstall");
    assert_eq!(again, installed, "a second install must change nothing");
    for h in handlers.wanted() {
        assert!(config::has_handler(&layout, path, &installed, &h.name).expect("has handler"), "{expected} lacks {:?}", h.name);
    }
    let back = config::uninstall(&layout, path, &installed, handlers).expect("uninstall");
    if layout == Layout::InPlace && original.is_some() && !expected.starts_with("already-youki") {
        assert_eq!(back.as_deref(), original.as_deref(), "uninstall edit must restore the original");
    }
    installed
}

#[test]
fn containerd_1x_without_version_key() {
    let out = case(Layout::InPlace, Some("containerd-1x.toml"), None, "containerd-1x.toml");
    assert!(out.contains("[plugins.cri.containerd.runtimes.youki]"));
}

#[test]
fn containerd_v2() {
    let out = case(Layout::InPlace, Some("containerd-v2.toml"), None, "containerd-v2.toml");
    assert!(out.contains(r#"[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.youki.options]"#));
}

#[test]
fn containerd_v3() {
    let out = case(Layout::InPlace, Some("containerd-v3.toml"), None, "containerd-v3.toml");
    assert!(out.contains(r#"[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.youki]"#));
    assert!(out.contains(r#"pod_annotations = ["io.kubernetes.cri.untrusted-workload", "io.youki.traceparent"]"#));
}

#[test]
fn comments_and_imports_are_kept_in_place() {
    // containerd 1.x replaces a whole plugin section with an imported one, so the handler
    // goes into the main file, next to runc, and `imports` stays as it was.
    let out = case(Layout::InPlace, Some("comments-imports.toml"), None, "comments-imports.toml");
    assert!(out.contains(r#"imports = ["/etc/containerd/conf.d/*.toml", "/etc/containerd/registry.toml"]"#));
    assert!(out.contains("# pinned by the platform team"));
}

#[test]
fn existing_youki_handler_is_rewritten() {
    let out = case(Layout::InPlace, Some("already-youki.toml"), None, "already-youki.toml");
    assert!(!out.contains("/usr/local/bin/youki"));
    assert_eq!(out.matches("runtimes.youki]").count(), 1);
}

#[test]
fn missing_config_gets_a_minimal_v2_file() {
    case(Layout::InPlace, None, None, "absent.toml");
}

#[test]
fn k3s_template_with_go_actions() {
    let out = case(Layout::Template, Some("k3s-config.toml.tmpl"), Some("k3s-config.toml"), "k3s-config.toml.tmpl");
    assert!(out.starts_with(&read("k3s-config.toml.tmpl")));
    let back = config::uninstall(&Layout::Template, Path::new("t"), &out, &Handlers::default()).expect("uninstall");
    assert_eq!(back, Some(read("k3s-config.toml.tmpl")));
}

#[test]
fn k3s_without_template_extends_the_base_template() {
    let out = case(Layout::Template, None, Some("k3s-config.toml"), "k3s-new.toml.tmpl");
    assert!(out.starts_with(config::K3S_BASE_TEMPLATE));
    assert_eq!(config::uninstall(&Layout::Template, Path::new("t"), &out, &Handlers::default()).expect("uninstall"), None);
}

#[test]
fn k0s_drop_in() {
    case(Layout::DropIn, None, Some("k0s-containerd.toml"), "k0s-youki.toml");
}

#[test]
fn crio_drop_in() {
    case(Layout::Crio, None, None, "crio-99-youki.conf");
}

#[test]
fn corrupt_config_is_refused() {
    let err = config::install(
        &Layout::InPlace,
        Path::new("/etc/containerd/config.toml"),
        Some(&read("corrupt.toml")),
        None,
        &Handlers::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with(r#"parse containerd config "/etc/containerd/config.toml": "#), "{err}");
}

/// The `youki-wasm` handler's table path and binary in a config of schema `version`.
fn assert_wasm_handler(out: &str, header: &str) {
    assert!(out.contains(&format!("[{header}.youki]")), "{out}");
    assert!(out.contains(&format!("[{header}.youki-wasm]")), "{out}");
    assert!(out.contains(&format!("[{header}.youki-wasm.options]")), "{out}");
    assert!(out.contains(r#"BinaryName = "/opt/youki/bin/youki-wasm""#), "{out}");
    assert!(out.contains(r#"Root = "/run/containerd/youki-wasm""#), "{out}");
    // The run.oci.handler container annotation reaches the wasm build, and only it.
    assert_eq!(out.matches(r#"container_annotations = ["run.oci.handler"]"#).count(), 1, "{out}");
}

#[test]
fn containerd_1x_with_the_wasm_handler() {
    let out = wasm_case(Layout::InPlace, Some("containerd-1x.toml"), None, "containerd-1x-wasm.toml");
    assert_wasm_handler(&out, "plugins.cri.containerd.runtimes");
}

#[test]
fn containerd_v2_with_the_wasm_handler() {
    let out = wasm_case(Layout::InPlace, Some("containerd-v2.toml"), None, "containerd-v2-wasm.toml");
    assert_wasm_handler(&out, r#"plugins."io.containerd.grpc.v1.cri".containerd.runtimes"#);
}

#[test]
fn containerd_v3_with_the_wasm_handler() {
    let out = wasm_case(Layout::InPlace, Some("containerd-v3.toml"), None, "containerd-v3-wasm.toml");
    assert_wasm_handler(&out, r#"plugins."io.containerd.cri.v1.runtime".containerd.runtimes"#);
    // The runc options (SystemdCgroup) are copied into both handlers.
    assert_eq!(out.matches("SystemdCgroup = true").count(), 3, "{out}");
}

#[test]
fn an_image_without_the_wasm_build_retires_the_wasm_handler() {
    // Installed with both handlers, then by an image that no longer ships youki-wasm: the
    // config is what a youki-only install writes, and a repeated install keeps it.
    let path = Path::new("/etc/containerd/config.toml");
    for (input, only_youki) in [
        ("containerd-1x.toml", "containerd-1x.toml"),
        ("containerd-v2.toml", "containerd-v2.toml"),
        ("containerd-v3.toml", "containerd-v3.toml"),
    ] {
        let both = config::install(&Layout::InPlace, path, Some(&read(input)), None, &Handlers::new(true)).expect("install both");
        let youki = config::install(&Layout::InPlace, path, Some(&both), None, &Handlers::default()).expect("install youki only");
        let expected = std::fs::read_to_string(fixtures().join("golden").join(only_youki)).expect("golden");
        assert_eq!(youki, expected, "{input}: the youki-wasm handler must be taken out");
        assert!(!config::has_handler(&Layout::InPlace, path, &youki, "youki-wasm").expect("has"));
    }
}

#[test]
fn uninstall_takes_out_a_wasm_handler_the_image_no_longer_ships() {
    let path = Path::new("/etc/containerd/config.toml");
    let original = read("containerd-v2.toml");
    let both = config::install(&Layout::InPlace, path, Some(&original), None, &Handlers::new(true)).expect("install both");
    // The uninstalling installer ships no wasm build, and still owns the wasm handler.
    let back = config::uninstall(&Layout::InPlace, path, &both, &Handlers::default()).expect("uninstall");
    assert_eq!(back.as_deref(), Some(original.as_str()));
}

#[test]
fn k3s_template_with_the_wasm_handler() {
    let out = wasm_case(Layout::Template, Some("k3s-config.toml.tmpl"), Some("k3s-config.toml"), "k3s-config-wasm.toml.tmpl");
    assert!(out.starts_with(&read("k3s-config.toml.tmpl")));
    assert!(out.contains("runtimes.youki-wasm]"));
}

#[test]
fn k0s_drop_in_with_the_wasm_handler() {
    let out = wasm_case(Layout::DropIn, None, Some("k0s-containerd.toml"), "k0s-youki-wasm.toml");
    assert!(out.contains("runtimes.youki-wasm]"));
}

#[test]
fn crio_drop_in_with_the_wasm_handler() {
    let out = wasm_case(Layout::Crio, None, None, "crio-99-youki-wasm.conf");
    assert!(out.contains("[crio.runtime.runtimes.youki-wasm]") && out.contains(r#"runtime_root = "/run/youki-wasm""#), "{out}");
}

#[test]
fn a_hand_made_youki_wasm_handler_for_another_binary_stays() {
    // docs/operator/containerd.md shows how to add a youki-wasm handler by hand: an installer
    // whose image has no wasm build leaves it alone on install and on uninstall.
    let path = Path::new("/etc/containerd/config.toml");
    let mut original = read("containerd-v2.toml");
    original.push_str(
        "\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.youki-wasm]\n  runtime_type = \"io.containerd.runc.v2\"\n  \
         [plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.youki-wasm.options]\n    BinaryName = \"/usr/local/bin/youki-wasm\"\n",
    );
    let installed = config::install(&Layout::InPlace, path, Some(&original), None, &Handlers::default()).expect("install");
    assert!(installed.contains(r#"BinaryName = "/usr/local/bin/youki-wasm""#), "{installed}");
    let back = config::uninstall(&Layout::InPlace, path, &installed, &Handlers::default()).expect("uninstall");
    assert_eq!(back.as_deref(), Some(original.as_str()));
}
