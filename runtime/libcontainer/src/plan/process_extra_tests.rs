//! Tests of `process_extra`: every field converted, and every rejection with its message.

use super::*;

fn process(extra: serde_json::Value) -> Process {
    let mut base = serde_json::json!({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    serde_json::from_value(base).unwrap()
}

fn plan_of(extra: serde_json::Value) -> Result<ExtraPlan, ExtraError> {
    plan(&process(extra), false)
}

#[test]
fn nothing_set_plans_nothing() {
    assert_eq!(plan_of(serde_json::json!({})).unwrap(), ExtraPlan::default());
}

#[test]
fn scheduler_fields_convert() {
    let p = plan_of(serde_json::json!({"scheduler": {"policy": "SCHED_FIFO", "priority": 10, "flags": ["SCHED_FLAG_RECLAIM", "SCHED_FLAG_KEEP_POLICY"]}})).unwrap();
    assert_eq!(p.scheduler, Some(SchedAttr { policy: SCHED_FIFO, priority: 10, flags: 0x02 | 0x08, ..Default::default() }));
    let p = plan_of(serde_json::json!({"scheduler": {"policy": "SCHED_BATCH", "nice": -5}})).unwrap();
    assert_eq!(p.scheduler, Some(SchedAttr { policy: SCHED_BATCH, nice: -5, ..Default::default() }));
    let p = plan_of(serde_json::json!({"scheduler": {"policy": "SCHED_DEADLINE", "runtime": 10000, "deadline": 20000, "period": 30000}}))
        .unwrap();
    assert_eq!(
        p.scheduler,
        Some(SchedAttr { policy: SCHED_DEADLINE, runtime: 10000, deadline: 20000, period: 30000, ..Default::default() })
    );
}

#[test]
fn bad_schedulers_are_refused_with_the_field() {
    let cases = [
        (serde_json::json!({"policy": "SCHED_ISO"}), "invalid process.scheduler: policy SCHED_ISO is not implemented by Linux"),
        (serde_json::json!({"policy": "SCHED_OTHER", "nice": 20}), "invalid process.scheduler: nice 20 must be -20 to 19"),
        (serde_json::json!({"policy": "SCHED_RR"}), "invalid process.scheduler: priority 0 must be 1 to 99 for policy SCHED_RR"),
        (
            serde_json::json!({"policy": "SCHED_FIFO", "priority": 100}),
            "invalid process.scheduler: priority 100 must be 1 to 99 for policy SCHED_FIFO",
        ),
        (
            serde_json::json!({"policy": "SCHED_IDLE", "priority": 3}),
            "invalid process.scheduler: priority 3 must be 0 for policy SCHED_IDLE",
        ),
        (
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 10}),
            "invalid process.scheduler: runtime 10 must be at least 1024 ns for SCHED_DEADLINE",
        ),
        (
            serde_json::json!({"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": 4000}),
            "invalid process.scheduler: SCHED_DEADLINE needs runtime <= deadline <= period, got 5000, 4000, 0",
        ),
    ];
    for (sched, want) in cases {
        assert_eq!(plan_of(serde_json::json!({ "scheduler": sched })).unwrap_err().to_string(), want);
    }
}

#[test]
fn unknown_policy_names_fail_to_parse() {
    let p: Result<Process, _> = serde_json::from_value(
        serde_json::json!({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "scheduler": {"policy": "SCHED_FAST"}}),
    );
    assert!(p.unwrap_err().to_string().contains("SCHED_FAST"));
}

#[test]
fn io_priority_converts_and_checks_the_level() {
    let p = plan_of(serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 7}})).unwrap();
    assert_eq!(p.io_priority, Some(IoPriority { class: IOPRIO_CLASS_IDLE, level: 7 }));
    assert_eq!(IoPriority { class: IOPRIO_CLASS_BE, level: 4 }.value(), (2 << 13) | 4);
    let e = plan_of(serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}})).unwrap_err();
    assert_eq!(e.to_string(), "invalid process.ioPriority.priority 8: must be 0 (highest) to 7 (lowest)");
    assert!(plan_of(serde_json::json!({"ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": -1}})).is_err());
}

#[test]
fn exec_cpu_affinity_lists_are_parsed() {
    let p = plan_of(serde_json::json!({"execCPUAffinity": {"initial": "0", "final": "0-1,3"}})).unwrap();
    assert_eq!(p.affinity, ExecAffinity { initial: Some(vec![0]), last: Some(vec![0, 1, 3]) });
    let e = plan(&process(serde_json::json!({})), false).map(|_| ()).and_then(|_| {
        let mut p = process(serde_json::json!({}));
        let a: oci_spec::runtime::ExecCPUAffinity = serde_json::from_value(serde_json::json!({"final": "0-2000"})).unwrap();
        p.set_exec_cpu_affinity(Some(a));
        plan(&p, false).map(|_| ())
    });
    assert_eq!(
        e.unwrap_err().to_string(),
        r#"invalid process.execCPUAffinity.final: cpu 2000 in cpu list "0-2000" is above the highest cpu 1023"#
    );
}

#[test]
fn labels_are_planned() {
    let p = plan_of(serde_json::json!({"apparmorProfile": "youki-test"})).unwrap();
    assert_eq!(p.labels.apparmor.as_deref(), Some("youki-test"));
    let e = plan_of(serde_json::json!({"selinuxLabel": "system_u:system_r:container_t:s0"})).unwrap_err();
    assert_eq!(e.to_string(), "process.selinuxLabel is set, but SELinux is not enabled on this host");
    let p = plan(&process(serde_json::json!({"selinuxLabel": "system_u:system_r:container_t:s0"})), true).unwrap();
    assert_eq!(p.labels.selinux.as_deref(), Some("system_u:system_r:container_t:s0"));
}

#[test]
fn personality_domains_and_flags() {
    let lp = |v: serde_json::Value| -> LinuxPersonality { serde_json::from_value(v).unwrap() };
    assert_eq!(personality(&lp(serde_json::json!({"domain": "LINUX"}))).unwrap(), PER_LINUX);
    assert_eq!(personality(&lp(serde_json::json!({"domain": "LINUX32", "flags": []}))).unwrap(), PER_LINUX32);
    let e = personality(&lp(serde_json::json!({"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}))).unwrap_err();
    assert_eq!(e.to_string(), r#"invalid linux.personality.flags ["ADDR_NO_RANDOMIZE"]: runtime-spec 1.2 supports no flag"#);
}

#[test]
fn spec_flag_names_that_oci_spec_spells_differently_are_respelled() {
    let mut v = serde_json::json!({"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0},
        "scheduler": {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_RECLAIM"]}});
    assert!(serde_json::from_value::<Process>(v.clone()).is_err(), "oci-spec got fixed: drop respell_sched_flags");
    assert!(respell_sched_flags(Some(&mut v)));
    let p: Process = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(plan(&p, false).unwrap().scheduler.unwrap().flags, 0x01 | 0x04 | 0x02);
    assert!(!respell_sched_flags(Some(&mut v)), "nothing left to respell");
    assert!(!respell_sched_flags(None));
}
