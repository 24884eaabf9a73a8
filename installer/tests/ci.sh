#!/usr/bin/env bash
# Chart and manifest checks for CI, with the real helm: lint, render, validate the objects
# against the Kubernetes schemas, assert what the chart promises, and check that
# deploy/youki.yaml is the fresh render. Idempotent: it installs what it lacks into a cache.
#
#   bash installer/tests/ci.sh            # check
#   bash installer/tests/ci.sh --update   # re-render deploy/youki.yaml
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../tools.sh
source "$repo/installer/tools.sh"
k8s_version=1.33.0

say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# The plain manifests target clusters that serve ValidatingAdmissionPolicy (1.30+).
vap_api=admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy
# shellcheck disable=SC2120 # callers may pass extra helm flags
render() {
    # Hooks are left out: applied as plain manifests, the pre-delete Job would run at once.
    "$tools/bin/helm" template youki "$repo/charts/youki" --no-hooks --kube-version "$k8s_version" --api-versions "$vap_api" "$@"
}

youki_tools_install
helm=$tools/bin/helm
py=$tools/venv/bin/python3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [[ ${1:-} == --update ]]; then
    render > "$repo/deploy/youki.yaml"
    say "rewrote deploy/youki.yaml"
    exit 0
fi

say "helm lint"
"$helm" lint --strict "$repo/charts/youki" >"$out/lint" 2>&1 || { cat "$out/lint"; fail "helm lint"; }

say "helm template (defaults, with hooks, an API server with ValidatingAdmissionPolicy)"
"$helm" template youki "$repo/charts/youki" --api-versions "$vap_api" > "$out/all.yaml"
say "helm template (an API server without ValidatingAdmissionPolicy)"
"$helm" template youki "$repo/charts/youki" > "$out/novap.yaml"
say "helm template (every option switched)"
"$helm" template youki "$repo/charts/youki" --set namespace.create=false --set runtimeClass.create=false \
    --set cleanup.enabled=false --set restart=signal --set containerdConfig=/etc/containerd/config.toml \
    --set runtimeClass.wasm.name=wasm --set runtimeClass.wasm.overhead.cpu=5m \
    --set 'imagePullSecrets[0].name=regcred' --set runtimeClass.overhead.cpu=10m > "$out/alt.yaml"

say "helm template (no wasm RuntimeClass)"
export NOWASM=$out/nowasm.yaml
"$helm" template youki "$repo/charts/youki" --set runtimeClass.wasm.create=false > "$NOWASM"

say "helm template (the privilege split, for each restart mode)"
export SPLIT_DIR=$out
for mode in systemd signal none; do
    "$helm" template youki "$repo/charts/youki" --set installer.splitInit=true --set restart=$mode > "$out/split-$mode.yaml"
done

say "helm template (the flight recorder on)"
"$helm" template youki "$repo/charts/youki" --set trace.recorder.enabled=true > "$out/recorder.yaml"

export DIGEST=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
say "helm template (the image by digest, as \`just release\` writes it)"
"$helm" template youki "$repo/charts/youki" --set image.digest=$DIGEST > "$out/digest.yaml"
say "helm template refuses a malformed image.digest"
if "$helm" template youki "$repo/charts/youki" --set image.digest=sha256:abc > "$out/bad" 2>&1; then
    fail "a malformed image.digest was rendered"
fi
grep -q 'image.digest "sha256:abc": want sha256: and 64 lowercase hex digits' "$out/bad" || { cat "$out/bad"; fail "unclear refusal of a malformed image.digest"; }
"$helm" template youki "$repo/charts/youki" --set image.pullPolicy=Always > "$out/always.yaml"

say "kubernetes-validate --strict against $k8s_version"
"$tools/venv/bin/kubernetes-validate" --strict --quiet -k "$k8s_version" "$out/all.yaml" "$out/alt.yaml" "$out/novap.yaml" "$out/recorder.yaml" "$out/digest.yaml" "$NOWASM" \
    "$out/split-systemd.yaml" "$out/split-signal.yaml" "$out/split-none.yaml" \
    || fail "rendered objects do not match the Kubernetes $k8s_version schemas"

say "assertions on the rendered objects"
"$py" - "$out/all.yaml" "$out/alt.yaml" "$out/novap.yaml" "$out/recorder.yaml" "$out/digest.yaml" "$out/always.yaml" "$repo/charts/youki/values.yaml" <<'PY'
import os, sys, yaml

def load(path):
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(open(path)) if d}

objs = load(sys.argv[1])
def check(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")

rc = objs[("RuntimeClass", "youki")]
check(rc["handler"] == "youki", "RuntimeClass handler is youki")
check(rc["scheduling"]["nodeSelector"] == {"youki.dev/runtime": "ready"}, "RuntimeClass waits for the ready label")
wrc = objs[("RuntimeClass", "youki-wasm")]
check(wrc["handler"] == "youki-wasm", "wasm RuntimeClass handler is youki-wasm")
check(wrc["scheduling"]["nodeSelector"] == {"youki.dev/runtime": "ready", "youki.dev/feature.wasm": "true"},
      "wasm RuntimeClass waits for the ready label and the wasm feature label")

ns = objs[("Namespace", "youki-system")]
check(ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged", "namespace is privileged")

ds = objs[("DaemonSet", "youki-installer")]
pod = ds["spec"]["template"]["spec"]
check(pod["nodeSelector"].get("kubernetes.io/arch") == "amd64", "DaemonSet runs on amd64 only")
check(pod["priorityClassName"] == "system-node-critical", "DaemonSet is node-critical")
check("hostPID" not in pod, "no hostPID with the systemd restart")
check(any(t.get("operator") == "Exists" for t in pod["tolerations"]), "DaemonSet tolerates every taint")
c = pod["containers"][0]
check(c["securityContext"]["privileged"] is True, "installer is privileged")
check(c["resources"]["requests"], "installer has resource requests")
check("--host-root=/host" in c["args"] and "run" in c["args"], "installer runs in DaemonSet mode on /host")
check("--listen=$(POD_IP):8088" in c["args"], "health endpoints listen on the pod IP only")
check("--repair-limit=3" in c["args"], "drift repair limited to 3 an hour by default")
check(any(e["name"] == "POD_IP" and e["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP" for e in c["env"]), "POD_IP from the downward API")
for probe in ("livenessProbe", "readinessProbe"):
    check("host" not in c[probe]["httpGet"], f"{probe} goes to the pod IP")
host = [v for v in pod["volumes"] if v["name"] == "host-root"][0]
check(host["hostPath"]["path"] == "/", "host root mounted")
check(not c["volumeMounts"][1].get("readOnly"), "detection needs the host root writable")
check(ds["spec"]["updateStrategy"]["type"] == "RollingUpdate", "rolling updates")

def verbs_of(rendered, name):
    rules = rendered[("ClusterRole", name)]["rules"]
    return {(tuple(r["apiGroups"]), tuple(r["resources"])): sorted(r["verbs"]) for r in rules}
def verbs(name):
    return verbs_of(objs, name)
check(verbs("youki-installer") == {(("",), ("nodes",)): ["get", "patch"]}, "installer may only get/patch nodes")
ev = objs[("Role", "youki-installer-events")]
check(ev["metadata"]["namespace"] == "default" and ev["rules"] == [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}], "installer may only create events in default")
vap = objs[("ValidatingAdmissionPolicy", "youki-node-patches")]
check(vap["spec"]["failurePolicy"] == "Fail", "node patch policy fails closed")
vb = objs[("ValidatingAdmissionPolicyBinding", "youki-node-patches")]
check(vb["spec"]["policyName"] == "youki-node-patches" and vb["spec"]["validationActions"] == ["Deny"], "node patch policy bound with Deny")
novap = load(sys.argv[3])
check(("ValidatingAdmissionPolicy", "youki-node-patches") not in novap, "no policy where the API server lacks it")
check(verbs("youki-cleanup") == {(("",), ("nodes",)): ["get", "list", "patch"]}, "cleanup may only get/list/patch nodes")
for kind in ("Role", "ClusterRole"):
    for (k, n), o in objs.items():
        if k == kind:
            for r in o["rules"]:
                check("*" not in r["verbs"] and "*" not in r["resources"], f"no wildcard in {k} {n}")

job = objs[("Job", "youki-cleanup")]
check(job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete", "cleanup Job is a pre-delete hook")
check(job["spec"]["template"]["spec"]["containers"][0]["args"][0] == "cleanup", "hook runs youki-installer cleanup")

alt = load(sys.argv[2])
check(("RuntimeClass", "youki") not in alt and ("Namespace", "youki-system") not in alt, "create flags honoured")
check(("RuntimeClass", "youki-wasm") not in alt, "runtimeClass.wasm.name renames the wasm RuntimeClass")
walt = alt[("RuntimeClass", "wasm")]
check(walt["handler"] == "youki-wasm" and walt["overhead"]["podFixed"] == {"cpu": "5m"},
      "the wasm class stands without the youki class, under its own name and overhead")
nowasm = load(os.environ["NOWASM"])
check(("RuntimeClass", "youki-wasm") not in nowasm and ("RuntimeClass", "youki") in nowasm, "runtimeClass.wasm.create=false drops only the wasm class")
check(("Job", "youki-cleanup") not in alt, "cleanup.enabled=false drops the hook")
args = alt[("DaemonSet", "youki-installer")]["spec"]["template"]["spec"]["containers"][0]["args"]
check("--restart=signal" in args and "--containerd-config=/etc/containerd/config.toml" in args, "restart and config values reach the args")
apod = alt[("DaemonSet", "youki-installer")]["spec"]["template"]["spec"]
check(apod["hostPID"] is True, "hostPID for --restart signal")
mounts = {m["mountPath"]: m for m in apod["containers"][0]["volumeMounts"]}
check(mounts["/host"].get("readOnly") is True, "a named config: host root read-only")
rw = sorted(p for p, m in mounts.items() if p.startswith("/host/") and not m.get("readOnly"))
check(rw == ["/host/etc/containerd", "/host/opt/youki", "/host/run"], f"a named config: only its directory, /opt/youki and /run writable ({rw})")
check([c["name"] for c in pod["containers"]] == ["installer"], "no flight recorder by default")
rec_pod = load(sys.argv[4])[("DaemonSet", "youki-installer")]["spec"]["template"]["spec"]
rec = {c["name"]: c for c in rec_pod["containers"]}["recorder"]
sc = rec["securityContext"]
check(sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False, "recorder is not privileged")
check(sc["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON"]}, "recorder has CAP_BPF and CAP_PERFMON only")
check(sc["readOnlyRootFilesystem"] is True, "recorder's root filesystem is read-only")
check("hostPID" not in rec_pod, "recorder needs no host pids")
check(rec["command"] == ["/usr/local/bin/youki-trace"] and rec["args"][0] == "record", "recorder runs youki-trace record")
check("--dir=/var/log/youki/failures" in rec["args"], "reports go to /var/log/youki/failures")
rmounts = {m["mountPath"]: m for m in rec["volumeMounts"]}
check(rmounts["/sys/kernel/tracing"].get("readOnly") is True, "tracefs mounted read-only")
check(rmounts["/run/containerd"].get("readOnly") is True, "bundles mounted read-only")
check(not rmounts["/var/log/youki/failures"].get("readOnly"), "report directory writable")
vols = {v["name"]: v for v in rec_pod["volumes"]}
check(vols["tracefs"]["hostPath"]["path"] == "/sys/kernel/tracing", "tracefs from the host")
check("--kube-events" in rec["args"] and {"name": "NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}} in rec["env"],
      "recorder posts Events, as its node")
rec_objs = load(sys.argv[4])
check(rec_objs[("ClusterRole", "youki-recorder-events")]["rules"] == [{"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}],
      "recorder may create events, nothing else")
check(("ClusterRole", "youki-recorder-events") not in load(sys.argv[1]), "no events role without the recorder")
# The image: repository:tag by default, repository@digest once a digest is set; the pull
# policy IfNotPresent for both unless set.
image = yaml.safe_load(open(sys.argv[7]))["image"]
check(image["digest"] == "", "values.yaml ships no digest (release.sh writes it)")
by_tag = f'{image["repository"]}:{image["tag"]}'
by_digest = f'{image["repository"]}@{os.environ["DIGEST"]}'
for path, want, policy in ((sys.argv[1], by_tag, "IfNotPresent"), (sys.argv[5], by_digest, "IfNotPresent"),
                           (sys.argv[6], by_tag, "Always")):
    rendered = load(path)
    for key in (("DaemonSet", "youki-installer"), ("Job", "youki-cleanup")):
        c = rendered[key]["spec"]["template"]["spec"]["containers"][0]
        check(c["image"] == want, f"{key[0]} image is {want} in {path} (got {c['image']})")
        check(c["imagePullPolicy"] == policy, f"{key[0]} pull policy is {policy} in {path} (got {c['imagePullPolicy']})")
# The privilege split: a privileged init container does the one-shot part; the long-running
# container is not privileged and has only what its restart mode needs.
check("initContainers" not in pod and "--no-features" not in pod["containers"][0]["args"], "no split by default")
for mode, caps, apparmor, host_pid in (("systemd", ["SYS_ADMIN"], True, False), ("signal", None, True, True), ("none", None, False, False)):
    split = load(os.path.join(os.environ["SPLIT_DIR"], f"split-{mode}.yaml"))
    spod = split[("DaemonSet", "youki-installer")]["spec"]["template"]["spec"]
    init, = spod["initContainers"]
    main, = spod["containers"]
    check(init["name"] == "install" and init["args"][-2:] == ["run", "--once"], f"{mode}: the init container runs run --once")
    check(init["securityContext"] == {"privileged": True}, f"{mode}: the init container is privileged")
    check(f"--restart={mode}" in init["args"] and "--host-root=/host" in init["args"], f"{mode}: the init container has the global flags")
    check("--no-features" in main["args"] and "run" in main["args"], f"{mode}: the long-running container leaves the features to the init container")
    sc = main["securityContext"]
    check(sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False and sc["runAsUser"] == 0, f"{mode}: the long-running container is not privileged")
    check(sc["capabilities"].get("drop") == ["ALL"] and sc["capabilities"].get("add") == caps, f"{mode}: capabilities {caps} ({sc['capabilities']})")
    check(("appArmorProfile" in sc) == apparmor, f"{mode}: AppArmor unconfined only where the restart needs it")
    check(spod.get("hostPID", False) == host_pid, f"{mode}: hostPID only for signal")
    check(init["volumeMounts"] == main["volumeMounts"], f"{mode}: both containers mount the same host paths")
    check(verbs_of(split, "youki-installer") == {(("",), ("nodes",)): ["get", "patch"]}, f"{mode}: the RBAC verbs do not change")
print(f"ok: {len(objs)} objects checked")
PY

say "rollout: a failed canary stops the rolling update (strategy, readiness, canary args)"
"$helm" template youki "$repo/charts/youki" --set canary.enabled=false --set canary.image=registry.k8s.io/pause:3.10 > "$out/canary.yaml"
"$py" "$repo/installer/tests/chart_rollout.py" "$out/all.yaml" "$out/canary.yaml" || fail "rollout settings"

say "the node patch policy's CEL on allowed and denied requests (cel-python)"
"$py" -c "import celpy" 2>/dev/null || "$tools/venv/bin/pip" install -q cel-python
"$py" "$repo/installer/tests/admission_policy.py" "$out/all.yaml" || fail "node patch policy"

say "deploy/youki.yaml is the fresh render"
render > "$out/deploy.yaml"
if ! diff -u "$repo/deploy/youki.yaml" "$out/deploy.yaml"; then
    fail "deploy/youki.yaml is stale: run bash installer/tests/ci.sh --update"
fi

say "kind recipe fails fast without docker/kind"
if ! command -v docker >/dev/null || ! command -v kind >/dev/null; then
    set +e
    msg=$(bash "$repo/kind/test-kind.sh" 2>&1)
    rc=$?
    set -e
    [[ $rc -eq 2 && $msg == *"needs docker and kind"* ]] || fail "kind/test-kind.sh should exit 2 with a clear message, got $rc: $msg"
fi
say "all chart checks passed"
