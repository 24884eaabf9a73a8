"""The chart's rollout settings, on rendered manifests: one node whose canary fails must stop
a rolling update. The DaemonSet replaces one pod at a time and never runs two on a node
(maxUnavailable 1, maxSurge 0), a pod counts as available only after minReadySeconds of
readiness, readiness is the installer's /readyz (not ready until the canary passed), and
liveness is /healthz (a failed canary is not a crash, so the pod is not restarted into a
loop of canaries). The canary values reach the installer's arguments.

    python3 chart_rollout.py DEFAULT.yaml NO_CANARY_WITH_IMAGE.yaml
"""
import sys

import yaml


def daemonset(path):
    for d in yaml.safe_load_all(open(path)):
        if d and d["kind"] == "DaemonSet" and d["metadata"]["name"] == "youki-installer":
            return d
    sys.exit(f"FAIL: no DaemonSet youki-installer in {path}")


def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


ds = daemonset(sys.argv[1])
spec = ds["spec"]
strategy = spec["updateStrategy"]
check(strategy["type"] == "RollingUpdate", "the DaemonSet rolls (RollingUpdate)")
check(strategy["rollingUpdate"]["maxUnavailable"] == 1, "one node at a time (maxUnavailable 1)")
check(strategy["rollingUpdate"].get("maxSurge") == 0, "no second installer pod on a node (maxSurge 0)")
check(spec.get("minReadySeconds", 0) >= 5, f"a new pod must stay ready a while before the next node (minReadySeconds {spec.get('minReadySeconds')})")
c = spec["template"]["spec"]["containers"][0]
port = {p["name"]: p["containerPort"] for p in c["ports"]}["health"]
ready, live = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
check(ready["path"] == "/readyz" and ready["port"] in ("health", port), "readiness is the installer's /readyz")
check(live["path"] == "/healthz" and live["port"] in ("health", port), "liveness is /healthz, which a failed canary keeps at 200")
listen = [a for a in c["args"] if a.startswith("--listen=")]
check(listen and listen[0].endswith(f":{port}"), f"the installer listens on the probed port ({listen})")
check("--no-canary" not in c["args"], "the canary is on by default")
check(not any(a.startswith("--canary-image") for a in c["args"]), "the default canary image is the node's sandbox image")

alt = daemonset(sys.argv[2])["spec"]["template"]["spec"]["containers"][0]["args"]
check("--no-canary" in alt, "canary.enabled=false reaches the args")
check("--canary-image=registry.k8s.io/pause:3.10" in alt, "canary.image reaches the args")
args_after_run = c["args"][c["args"].index("run") + 1:]
check(all(a.startswith("--") for a in args_after_run), "run's flags come after run")
print("ok: rollout settings checked")
