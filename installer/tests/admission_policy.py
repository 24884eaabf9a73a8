"""Evaluates the chart's ValidatingAdmissionPolicy (rendered YAML, argv[1]) with cel-python on
admission requests that must be allowed or denied: the installer may change only youki.dev/
labels of the node its token names; the cleanup hook only youki.dev/ labels; others are not
matched. No API server can run here, so this is the closest check of the CEL."""
import sys, yaml, celpy, json
from celpy import celtypes

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
vap = [d for d in docs if d["kind"] == "ValidatingAdmissionPolicy"][0]
env = celpy.Environment()

def run(expr, act):
    prog = env.program(env.compile(expr))
    return prog.evaluate(act)

def admit(username, extra, old, new):
    req = {"userInfo": {"username": username}}
    if extra is not None:
        req["userInfo"]["extra"] = extra
    act = {"request": celpy.json_to_cel(req), "object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old)}
    if not all(bool(run(c["expression"], act)) for c in vap["spec"]["matchConditions"]):
        return "no-match"
    variables = {}
    for v in vap["spec"]["variables"]:
        act["variables"] = celpy.json_to_cel(variables)
        val = run(v["expression"], act)
        variables[v["name"]] = val
    act["variables"] = celtypes.MapType({celtypes.StringType(k): v for k, v in variables.items()})
    for v in vap["spec"]["validations"]:
        r = run(v["expression"], act)
        if not isinstance(r, celtypes.BoolType):
            return f"error {r!r} in {v['expression']}"
        if not r:
            return "deny"
    return "allow"

inst = "system:serviceaccount:youki-system:youki-installer"
clean = "system:serviceaccount:youki-system:youki-cleanup"
claim = lambda n: {"authentication.kubernetes.io/node-name": [n]}
node = lambda name, labels, spec=None: {"metadata": {"name": name, "labels": labels}, "spec": spec or {"podCIDR": "10.0.0.0/24"}}
base = {"kubernetes.io/os": "linux"}
cases = [
    ("installer labels its own node", inst, claim("a"), node("a", base), node("a", {**base, "youki.dev/runtime": "ready"}), "allow"),
    ("installer unlabels its own node", inst, claim("a"), node("a", {**base, "youki.dev/runtime": "ready"}), node("a", base), "allow"),
    ("installer labels another node", inst, claim("a"), node("b", base), node("b", {**base, "youki.dev/runtime": "ready"}), "deny"),
    ("installer token without node claim", inst, None, node("a", base), node("a", {**base, "youki.dev/runtime": "ready"}), "deny"),
    ("installer changes a foreign label", inst, claim("a"), node("a", base), node("a", {"kubernetes.io/os": "windows"}), "deny"),
    ("installer adds a foreign label", inst, claim("a"), node("a", base), node("a", {**base, "node-role.kubernetes.io/control-plane": ""}), "deny"),
    ("installer removes a foreign label", inst, claim("a"), node("a", base), node("a", {}), "deny"),
    ("installer taints its node", inst, claim("a"), node("a", base), node("a", base, {"podCIDR": "10.0.0.0/24", "taints": [{"key": "x", "effect": "NoSchedule"}]}), "deny"),
    ("cleanup asks another node to uninstall", clean, None, node("b", base), node("b", {**base, "youki.dev/uninstall": "requested"}), "allow"),
    ("cleanup changes a foreign label", clean, None, node("b", base), node("b", {**base, "team": "x"}), "deny"),
    ("someone else is not matched", "system:node:a", None, node("b", base), node("b", {}), "no-match"),
]
bad = 0
for name, user, extra, old, new, want in cases:
    got = admit(user, extra, old, new)
    ok = got == want
    bad += not ok
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {got} (want {want})")
sys.exit(1 if bad else 0)
