//! Pod start latency through containerd, as the kubelet sees it: RunPodSandbox, then
//! CreateContainer and StartContainer of one container, timed call by call. Teardown is not
//! timed. Prints one JSON object with every sample, for tests/bench/pod-start.sh.

use std::time::Duration;

use anyhow::Result;

use crate::cri::timed;
use crate::{cgroup, pod, Env};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(env: &mut Env, runs: usize, warmup: usize) -> Result<()> {
    let handler = env.cri.handler.clone();
    let (mut sandbox_ms, mut create_ms, mut start_ms, mut total_ms) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..warmup + runs {
        let p = env.pod(&format!("bench-{handler}-{i}"), None);
        let sandbox = pod::sandbox(&p);
        let (pod_id, a) = timed(env.cri.run_pod(&sandbox)).await;
        let pod_id = pod_id?;
        let (id, b) = timed(env.cri.create(&pod_id, pod::sleeper(&env.image), &sandbox)).await;
        let started = match id {
            Ok(id) => timed(env.cri.start(&id)).await,
            Err(e) => (Err(e), Duration::ZERO),
        };
        env.cri.force_remove_pod(&pod_id).await;
        cgroup::remove(&p.cgroup_parent)?;
        let (r, c) = started;
        r?;
        if i >= warmup {
            sandbox_ms.push(ms(a));
            create_ms.push(ms(b));
            start_ms.push(ms(c));
            total_ms.push(ms(a + b + c));
        }
    }
    let out = serde_json::json!({
        "handler": handler, "runs": runs,
        "sandbox_ms": sandbox_ms, "create_ms": create_ms, "start_ms": start_ms, "total_ms": total_ms,
    });
    println!("{out}");
    Ok(())
}
