//! Unit tests of `intel_rdt`: the pure checks, and `apply`/`remove` on a fake resctrl tree
//! in a temp dir (a root `schemata` file, groups as plain directories).

use super::*;
use serde_json::json;

fn cfg(v: serde_json::Value) -> RdtConfig {
    from_config(&json!({"linux": {"intelRdt": v}})).unwrap().unwrap()
}

fn planned(v: serde_json::Value) -> RdtPlan {
    plan(&cfg(v), "ctr1").unwrap()
}

fn plan_err(v: serde_json::Value) -> String {
    plan(&cfg(v), "ctr1").unwrap_err().to_string()
}

/// A fake resctrl root: the kernel's root files, and one pre-configured group "gold".
fn fake_root() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    fs::write(d.path().join("schemata"), "L3:0=7ff;1=7ff\nMB:0=100;1=100\n").unwrap();
    fs::write(d.path().join("tasks"), "").unwrap();
    fs::create_dir(d.path().join("mon_groups")).unwrap();
    let gold = d.path().join("gold");
    fs::create_dir_all(gold.join("mon_groups")).unwrap();
    fs::write(gold.join("schemata"), "    L3:0=0f0;1=7ff\n    MB:0=50;1=100\n").unwrap();
    d
}

/// What the kernel does on rmdir and we cannot on a plain fs: drop the group's files.
fn kernel_files_gone(dir: &Path) {
    for f in ["tasks", "schemata"] {
        let _ = fs::remove_file(dir.join(f));
    }
    let _ = fs::remove_dir(dir.join("mon_groups"));
}

#[test]
fn absent_or_null_is_none_and_every_1_3_field_is_read() {
    assert_eq!(from_config(&json!({"linux": {}})).unwrap(), None);
    assert_eq!(from_config(&json!({"linux": {"intelRdt": null}})).unwrap(), None);
    let c = cfg(
        json!({"closID": "g", "l3CacheSchema": "L3:0=f", "memBwSchema": "MB:0=20", "schemata": ["L2:0=f"], "enableMonitoring": true, "enableCMT": true}),
    );
    assert_eq!(c.clos_id.as_deref(), Some("g"));
    assert_eq!(c.schemata, Some(vec!["L2:0=f".to_string()]));
    assert_eq!(c.enable_monitoring, Some(true));
    assert!(from_config(&json!({"linux": {"intelRdt": {"schemata": "L3:0=f"}}}))
        .unwrap_err()
        .to_string()
        .starts_with("invalid linux.intelRdt: "));
}

#[test]
fn group_is_the_clos_id_the_root_or_the_container_id() {
    assert_eq!(planned(json!({"closID": "gold"})).group, Group::Named("gold".into()));
    assert!(planned(json!({"closID": "gold"})).clos_id_given);
    assert_eq!(planned(json!({"closID": "/"})).group, Group::Root);
    let p = planned(json!({"l3CacheSchema": "L3:0=f"}));
    assert_eq!((p.group, p.clos_id_given), (Group::Named("ctr1".into()), false));
    for bad in ["..", "a/b", "info", "mon_groups", "tasks", "a\nb"] {
        assert!(plan_err(json!({"closID": bad})).starts_with(&format!("invalid linux.intelRdt.closID {bad:?}: ")), "{bad:?}");
    }
    assert_eq!(
        plan(&cfg(json!({})), "info").unwrap_err().to_string(),
        r#"invalid linux.intelRdt.closID "info": names one of resctrl's own files"#
    );
}

#[test]
fn schemata_lines_in_spec_order_and_checked() {
    let p =
        planned(json!({"closID": "g", "schemata": ["L2:0=f;1=f", "MB:0=70"], "memBwSchema": "MB:0=20", "l3CacheSchema": "L3:0=7f0;1=1f"}));
    assert_eq!(p.schemas, vec!["L3:0=7f0;1=1f", "MB:0=20"]);
    assert_eq!(p.schemata, vec!["L2:0=f;1=f", "MB:0=70"]);
    assert_eq!(planned(json!({"closID": "g", "l3CacheSchema": ""})).schemas, Vec::<String>::new());
    assert_eq!(plan_err(json!({"memBwSchema": "L3:0=f"})), r#"invalid linux.intelRdt.memBwSchema "L3:0=f": must start with MB:"#);
    assert_eq!(
        plan_err(json!({"l3CacheSchema": "MB:0=f"})),
        r#"invalid linux.intelRdt.l3CacheSchema "MB:0=f": must start with L3: (or L3CODE:/L3DATA:)"#
    );
    assert_eq!(
        plan_err(json!({"schemata": ["L3:0=f\nMB:0=1"]})),
        r#"invalid linux.intelRdt.schemata "L3:0=f\nMB:0=1": must not contain a newline"#
    );
    assert_eq!(plan_err(json!({"schemata": ["L3"]})), r#"invalid linux.intelRdt.schemata "L3": expected RESOURCE:DOMAIN=VALUE;..."#);
    assert_eq!(plan_err(json!({"schemata": ["L3:x=f"]})), r#"invalid linux.intelRdt.schemata "L3:x=f": "x" is not a domain id"#);
    assert_eq!(plan_err(json!({"schemata": ["L3:0="]})), r#"invalid linux.intelRdt.schemata "L3:0=": "" is not a bitmask or bandwidth"#);
    assert_eq!(plan_err(json!({"schemata": ["l3:0=f"]})), r#"invalid linux.intelRdt.schemata "l3:0=f": "l3" is not a resource name"#);
    assert!(planned(json!({"schemata": ["L3CODE:0=f", "L3DATA:0=f0", "SMBA:0=20"]})).schemata.len() == 3);
}

#[test]
fn monitoring_is_a_mon_group_named_after_the_container() {
    assert_eq!(planned(json!({"enableMonitoring": true})).mon_group, Some("ctr1".into()));
    assert_eq!(planned(json!({"closID": "gold", "enableMonitoring": false})).mon_group, None);
}

#[test]
fn apply_needs_a_mounted_resctrl() {
    let d = tempfile::tempdir().unwrap();
    let e = apply(d.path(), &planned(json!({"closID": "gold"})), 42).unwrap_err();
    assert_eq!(e.to_string(), format!("linux.intelRdt needs resctrl, which is not mounted at {:?}", d.path()));
}

#[test]
fn new_group_gets_schemata_and_the_pid_and_goes_on_remove() {
    let root = fake_root();
    let p = planned(json!({"l3CacheSchema": "L3:0=f", "schemata": ["MB:0=20"]}));
    let a = apply(root.path(), &p, 42).unwrap();
    let g = root.path().join("ctr1");
    assert_eq!(a, Applied { group: g.clone(), created_group: true, mon_group: None });
    assert_eq!(fs::read_to_string(g.join("schemata")).unwrap(), "L3:0=f\nMB:0=20\n");
    assert_eq!(fs::read_to_string(g.join("tasks")).unwrap(), "42");

    let state = tempfile::tempdir().unwrap();
    save_record(state.path(), &a).unwrap();
    kernel_files_gone(&g);
    remove_recorded(state.path()).unwrap();
    assert!(!g.exists(), "the group the runtime made is removed");
    remove_recorded(state.path()).unwrap(); // twice: already gone is fine
    remove_recorded(tempfile::tempdir().unwrap().path()).unwrap(); // no record: nothing to do
}

#[test]
fn pre_configured_group_is_joined_compared_and_kept() {
    let root = fake_root();
    let gold = root.path().join("gold");
    // Same values (case and leading zeros aside), a subset of the domains.
    let a = apply(root.path(), &planned(json!({"closID": "gold", "l3CacheSchema": "L3:0=F0", "memBwSchema": "MB:1=100"})), 7).unwrap();
    assert!(!a.created_group);
    assert_eq!(fs::read_to_string(gold.join("tasks")).unwrap(), "7");
    assert_eq!(fs::read_to_string(gold.join("schemata")).unwrap(), "    L3:0=0f0;1=7ff\n    MB:0=50;1=100\n", "not written");
    remove(&a).unwrap();
    assert!(gold.is_dir(), "a closID group is never removed");

    let e = apply(root.path(), &planned(json!({"closID": "gold", "l3CacheSchema": "L3:0=ff"})), 7).unwrap_err();
    assert_eq!(e.to_string(), format!("resctrl group {gold:?} exists with other schemata: \"L3:0=ff\" does not match"));
    let e = apply(root.path(), &planned(json!({"closID": "gold", "memBwSchema": "MB:0=60"})), 7).unwrap_err();
    assert!(e.to_string().contains(r#""MB:0=60" does not match"#), "{e}");

    // `schemata` lines are written to an existing group too, after the comparison.
    let a = apply(root.path(), &planned(json!({"closID": "gold", "l3CacheSchema": "L3:0=f0", "schemata": ["MB:0=40"]})), 8).unwrap();
    assert!(!a.created_group);
    // (A plain file is overwritten in place, not truncated: only its start is ours.)
    assert!(fs::read_to_string(gold.join("schemata")).unwrap().starts_with("MB:0=40\n"));
}

#[test]
fn clos_id_without_schemata_must_exist() {
    let root = fake_root();
    let e = apply(root.path(), &planned(json!({"closID": "silver"})), 7).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("resctrl group {:?} does not exist, and linux.intelRdt gives no schemata to create it with", root.path().join("silver"))
    );
    assert!(!root.path().join("silver").exists());
    // With schemata the runtime makes it; a given closID is still never removed.
    let a = apply(root.path(), &planned(json!({"closID": "silver", "memBwSchema": "MB:0=30"})), 7).unwrap();
    assert!(a.created_group);
}

#[test]
fn monitoring_group_is_made_and_removed_the_clos_group_kept() {
    let root = fake_root();
    let p = planned(json!({"closID": "gold", "enableMonitoring": true}));
    let a = apply(root.path(), &p, 9).unwrap();
    let mon = root.path().join("gold/mon_groups/ctr1");
    assert_eq!(a.mon_group.as_deref(), Some(mon.as_path()));
    assert_eq!(fs::read_to_string(mon.join("tasks")).unwrap(), "9");
    kernel_files_gone(&mon);
    remove(&a).unwrap();
    assert!(!mon.exists());
    assert!(root.path().join("gold").is_dir());
}

#[test]
fn root_group_is_compared_never_created_or_removed() {
    let root = fake_root();
    let a = apply(root.path(), &planned(json!({"closID": "/", "l3CacheSchema": "L3:0=7ff"})), 5).unwrap();
    assert_eq!((a.group.as_path(), a.created_group), (root.path(), false));
    assert_eq!(fs::read_to_string(root.path().join("tasks")).unwrap(), "5");
    remove(&a).unwrap();
    assert!(root.path().join("schemata").exists());
}

#[test]
fn a_failed_mon_group_is_an_error_and_the_clos_group_is_taken_back() {
    let root = fake_root();
    // "gold" lacks nothing, but a MON group named like the container is there already.
    fs::create_dir(root.path().join("gold/mon_groups/ctr1")).unwrap();
    let p = planned(json!({"closID": "gold", "enableMonitoring": true}));
    let e = apply(root.path(), &p, 3).unwrap_err();
    assert!(e.to_string().starts_with("create resctrl MON group"), "{e}");
    assert!(root.path().join("gold").is_dir(), "a closID group stays");

    // A group the runtime made goes again when its MON group fails (no mon_groups dir in
    // the new group: the kernel would have made one, a plain fs does not).
    let p = planned(json!({"enableMonitoring": true}));
    let e = apply(root.path(), &p, 3).unwrap_err();
    assert!(e.to_string().starts_with("create resctrl MON group"), "{e}");
    let g = root.path().join("ctr1");
    // Its tasks file is a plain file here, so rmdir could not take the group back; on
    // resctrl the kernel owns that file. Check that only the file kept it.
    assert_eq!(fs::read_dir(&g).unwrap().count(), 1);
}

#[test]
fn exec_joins_the_recorded_groups() {
    let root = fake_root();
    let state = tempfile::tempdir().unwrap();
    join_recorded(state.path(), 11).unwrap(); // no record: nothing
    let a = apply(root.path(), &planned(json!({"closID": "gold", "enableMonitoring": true})), 9).unwrap();
    save_record(state.path(), &a).unwrap();
    join_recorded(state.path(), 11).unwrap();
    assert_eq!(fs::read_to_string(root.path().join("gold/tasks")).unwrap(), "11");
    assert_eq!(fs::read_to_string(root.path().join("gold/mon_groups/ctr1/tasks")).unwrap(), "11");
}
