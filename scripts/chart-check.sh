#!/usr/bin/env bash
# Checks the Helm chart deploy/helm/relreg without a helm binary or a cluster: Helm's own Go SDK
# (PyPI helm-python-sdk, pinned) lints it strictly and renders every values file under
# deploy/helm/relreg/ci/; kubernetes-validate --strict checks each rendering against the
# Kubernetes 1.30 schemas (it has none for HTTPRoute and ServiceMonitor: those are checked by
# the assertions below instead); the ci/fail-*.yaml files must fail to render with the message
# their `# expect-fail:` line names (values.schema.json refuses unknown keys and bad types;
# the templates refuse unsafe combinations); key rendered facts are asserted (appProtocol h2c, preStop,
# grace period, probes, replicas per database, Ingress xor HTTPRoute). Also checks that
# deploy/compose.yaml parses and wires relreg to PostgreSQL.
#
#   bash scripts/chart-check.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
HELM_PYTHON_SDK=helm-python-sdk==0.2.2
KUBERNETES_VALIDATE=kubernetes-validate==1.37.0
KUBE_VERSION=1.30.0
OUT=$ROOT/target/chart-check
rm -rf "$OUT"
mkdir -p "$OUT"

have() { python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null; }
if ! have helm-python-sdk 0.2.2 || ! command -v kubernetes-validate >/dev/null; then
  echo "==> chart-check: installing $HELM_PYTHON_SDK $KUBERNETES_VALIDATE"
  python3 -m pip install --quiet --disable-pip-version-check "$HELM_PYTHON_SDK" "$KUBERNETES_VALIDATE" pyyaml
  command -v pyenv >/dev/null && pyenv rehash
  PATH="$PATH:$(python3 -m site --user-base)/bin"
fi

echo "==> chart-check: lint, render, expected failures, rendered facts"
python3 - "$OUT" <<'PY'
import pathlib, sys
import helm_python, yaml

chart_dir = pathlib.Path("deploy/helm/relreg")
out = pathlib.Path(sys.argv[1])
failures = []

def fail(msg):
    failures.append(msg)
    print(f"    FAIL {msg}")

def values_of(path):
    return yaml.safe_load(path.read_text()) or {}

# Lint strictly with the defaults and with each passing values file.
ci = sorted((chart_dir / "ci").glob("*.yaml"))
passing = [p for p in ci if not p.name.startswith("fail-")]
failing = [p for p in ci if p.name.startswith("fail-")]
for path in [None] + passing:
    report = helm_python.lint(chart_dir, values_of(path) if path else None, strict=True,
                              namespace="relreg", kube_version="v1.30.0")
    bad = report["errors"] + [m for m in report["messages"] if m["severity"] >= 2]
    name = path.name if path else "defaults"
    print(f"    lint {name}: {len(report['messages'])} message(s), {len(bad)} warning(s)/error(s)")
    for m in bad:
        fail(f"lint {name}: {m}")

chart = helm_python.Chart.load(chart_dir)

def render(values):
    return chart.render(values, name="rr", namespace="relreg", is_install=True)

def docs_of(rendered):
    docs = []
    for name, text in rendered.items():
        if name.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d]
    return docs

def check_facts(name, values, docs):
    """The facts each rendering must show, given the values it was rendered with."""
    kinds = {}
    for d in docs:
        kinds.setdefault(d["kind"], []).append(d)
    def one(kind):
        items = kinds.get(kind, [])
        if len(items) != 1:
            fail(f"{name}: {len(items)} {kind}(s), expected 1")
            return {}
        return items[0]
    merged = chart_values(values)
    dep, svc = one("Deployment"), one("Service")
    if not dep or not svc:
        return
    port = svc["spec"]["ports"][0]
    if port.get("appProtocol") != "kubernetes.io/h2c":
        fail(f"{name}: Service port appProtocol is {port.get('appProtocol')!r}")
    pod = dep["spec"]["template"]["spec"]
    (c,) = [c for c in pod["containers"] if c["name"] == "relreg"]
    env = {e["name"]: e for e in c["env"]}
    pre = c["lifecycle"]["preStop"]["exec"]["command"]
    sleep = int(merged["server"]["preStopSleepSeconds"])
    grace = int(env["RELREG_SHUTDOWN_GRACE"]["value"])
    if pre != ["sleep", str(sleep)]:
        fail(f"{name}: preStop is {pre}, expected sleep {sleep}")
    if not pod["terminationGracePeriodSeconds"] > sleep + grace:
        fail(f"{name}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} <= preStop {sleep} + grace {grace}")
    if c["livenessProbe"]["httpGet"]["path"] != "/healthz":
        fail(f"{name}: liveness is not /healthz")
    for probe, key in (("readinessProbe", "readiness"), ("livenessProbe", "liveness")):
        want = merged["probes"][key]
        got = c[probe]
        for field in ("periodSeconds", "failureThreshold", "timeoutSeconds"):
            if got[field] != want[field]:
                fail(f"{name}: {probe}.{field} is {got[field]}, values say {want[field]}")
        if got["httpGet"]["path"] != want["path"]:
            fail(f"{name}: {probe} path {got['httpGet']['path']}")
    if c["ports"][0]["containerPort"] != merged["server"]["port"] or \
            env["RELREG_LISTEN"]["value"] != f"0.0.0.0:{merged['server']['port']}":
        fail(f"{name}: container port and RELREG_LISTEN disagree with server.port")
    if not (c["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]):
        fail(f"{name}: not read-only or not non-root")
    db = env["RELREG_DATABASE_URL"]
    if merged["database"]["type"] == "sqlite":
        if dep["spec"]["replicas"] != 1 or dep["spec"]["strategy"]["type"] != "Recreate":
            fail(f"{name}: SQLite must run one replica with strategy Recreate")
        if db.get("value") != "sqlite:///data/relreg.db":
            fail(f"{name}: SQLite database URL {db}")
    else:
        ref = db["valueFrom"]["secretKeyRef"]
        if ref != {"name": merged["database"]["postgres"]["existingSecret"],
                   "key": merged["database"]["postgres"]["secretKey"]}:
            fail(f"{name}: database URL secret ref {ref}")
    rwx = "ReadWriteMany" in merged["persistence"]["accessModes"]
    want_strategy = "RollingUpdate" if merged["database"]["type"] == "postgres" and rwx else "Recreate"
    if dep["spec"]["strategy"]["type"] != want_strategy:
        fail(f"{name}: strategy {dep['spec']['strategy']['type']}, expected {want_strategy}")
    claim = [v for v in pod["volumes"] if v["name"] == "data"][0]["persistentVolumeClaim"]["claimName"]
    pvcs = kinds.get("PersistentVolumeClaim", [])
    if merged["persistence"]["existingClaim"]:
        if pvcs or claim != merged["persistence"]["existingClaim"]:
            fail(f"{name}: an existing claim must be mounted, not created")
    elif [p["metadata"]["name"] for p in pvcs] != [claim]:
        fail(f"{name}: the mounted claim {claim} is not the one created")
    ingress, route = kinds.get("Ingress", []), kinds.get("HTTPRoute", [])
    if bool(ingress) != merged["ingress"]["enabled"] or bool(route) != merged["httpRoute"]["enabled"]:
        fail(f"{name}: Ingress/HTTPRoute do not follow their enabled flags")
    if ingress and route:
        fail(f"{name}: both an Ingress and an HTTPRoute")
    for r in route:
        refs = r["spec"]["rules"][0]["backendRefs"]
        if refs != [{"name": svc["metadata"]["name"], "port": port["port"]}]:
            fail(f"{name}: HTTPRoute backendRefs {refs}")
        if not r["spec"]["parentRefs"]:
            fail(f"{name}: HTTPRoute without parentRefs")
    for i in ingress:
        for rule in i["spec"]["rules"]:
            for p in rule["http"]["paths"]:
                if p["backend"]["service"] != {"name": svc["metadata"]["name"], "port": {"name": port["name"]}}:
                    fail(f"{name}: Ingress backend {p['backend']}")
    monitors = kinds.get("ServiceMonitor", [])
    if bool(monitors) != merged["serviceMonitor"]["enabled"]:
        fail(f"{name}: ServiceMonitor does not follow serviceMonitor.enabled")
    for m in monitors:
        sel = m["spec"]["selector"]["matchLabels"]
        if any(svc["metadata"]["labels"].get(k) != v for k, v in sel.items()):
            fail(f"{name}: ServiceMonitor selector {sel} misses the Service")
        if m["spec"]["endpoints"][0]["port"] != port["name"] or m["spec"]["endpoints"][0]["path"] != "/metrics":
            fail(f"{name}: ServiceMonitor endpoint")
    jobs = kinds.get("Job", [])
    want_job = merged["bootstrapToken"]["job"]["enabled"] and not merged["bootstrapToken"]["existingSecret"]
    if bool(jobs) != want_job:
        fail(f"{name}: bootstrap Job present={bool(jobs)}, expected {want_job}")
    for j in jobs:
        labels = j["spec"]["template"]["metadata"]["labels"]
        if all(svc["spec"]["selector"].get(k) == v for k, v in labels.items() if k in svc["spec"]["selector"]) \
                and all(k in labels for k in svc["spec"]["selector"]):
            fail(f"{name}: the Service would select the bootstrap Job's pod")
        if j["metadata"]["annotations"].get("helm.sh/hook") != "post-install":
            fail(f"{name}: the bootstrap Job is not a post-install hook")
    print(f"    facts {name}: {len(docs)} objects ({', '.join(sorted(kinds))})")

def chart_values(values):
    merged = yaml.safe_load((chart_dir / "values.yaml").read_text())
    def merge(a, b):
        for k, v in b.items():
            if isinstance(v, dict) and isinstance(a.get(k), dict):
                merge(a[k], v)
            else:
                a[k] = v
    merge(merged, values)
    return merged

for path in passing:
    values = values_of(path)
    try:
        rendered = render(values)
    except helm_python.HelmError as e:
        fail(f"render {path.name}: {e}")
        continue
    docs = docs_of(rendered)
    (out / path.name).write_text(yaml.safe_dump_all(docs, sort_keys=False))
    check_facts(path.name, values, docs)

for path in failing:
    expected = next((l.split(":", 1)[1].strip() for l in path.read_text().splitlines()
                     if l.startswith("# expect-fail:")), None)
    if not expected:
        fail(f"{path.name} has no '# expect-fail: MESSAGE' line")
        continue
    try:
        render(values_of(path))
        fail(f"{path.name}: rendered, but must fail with {expected!r}")
    except helm_python.HelmError as e:
        if expected not in str(e):
            fail(f"{path.name}: failed with {e!s}, expected {expected!r}")
        else:
            print(f"    refused {path.name}: {expected}")

# deploy/compose.yaml: relreg on PostgreSQL, started once PostgreSQL is healthy.
compose = yaml.safe_load(pathlib.Path("deploy/compose.yaml").read_text())
svc = compose["services"]
relreg_env = svc["relreg"]["environment"]
if not relreg_env["RELREG_DATABASE_URL"].startswith("postgres://") or "@postgres:5432/" not in relreg_env["RELREG_DATABASE_URL"]:
    fail("compose: relreg does not use the postgres service")
if svc["relreg"]["depends_on"]["postgres"]["condition"] != "service_healthy" or "healthcheck" not in svc["postgres"]:
    fail("compose: relreg does not wait for a healthy postgres")
if not any(v.endswith(":/data") for v in svc["relreg"]["volumes"]):
    fail("compose: no volume on /data")
print("    compose: relreg + postgres wired")

if failures:
    print(f"chart-check: {len(failures)} failure(s)", file=sys.stderr)
    sys.exit(1)
PY

echo "==> chart-check: kubernetes-validate --strict -k $KUBE_VERSION"
LOG=$OUT/kubernetes-validate.log
status=0
kubernetes-validate --strict -k "$KUBE_VERSION" "$OUT"/*.yaml >"$LOG" 2>&1 || status=$?
grep -Ev '^INFO ' "$LOG" | sed 's/^/    /' || true
if [[ $status != 0 ]] || grep -q '^ERROR' "$LOG"; then
  echo "chart-check: kubernetes-validate found errors" >&2
  exit 1
fi
# The only kinds without a schema may be the CRDs checked above.
if grep '^WARN' "$LOG" | grep -Ev 'kind (HTTPRoute|ServiceMonitor) ' | grep -q .; then
  echo "chart-check: kubernetes-validate could not check some objects" >&2
  exit 1
fi
echo "    $(grep -c '^INFO .* passed' "$LOG") objects passed"
echo "==> chart-check: passed"
