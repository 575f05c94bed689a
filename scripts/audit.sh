#!/usr/bin/env bash
# Dependency audit: the packages installed in .venv checked for known vulnerabilities with
# pip-audit (installed by `make install`, dev extra).
#
# Exit codes:
#   0  every package was audited and none has a known vulnerability
#   1  at least one package has a known vulnerability (listed)
#   2  there was nothing to audit: the packages of $VENV could not be listed, or it holds none
#      (a wrong VENV, a broken install): an empty audit never passes
#   3  the audit could NOT be done here (vulnerability service unreachable, or packages it
#      could not look up): nothing is claimed. CI decides whether that fails the build
#      (AUDIT_REQUIRED=1 turns exit 3 into a failure here).
#
# AUDIT_SERVICE=pypi|osv chooses the vulnerability service (default: pypi).
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
SERVICE=${AUDIT_SERVICE:-pypi}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! "$VENV/bin/pip-audit" --version >/dev/null 2>&1; then
    echo "audit: pip-audit is not installed in $VENV (run make install)" >&2
    exit 3
fi
# Exact versions of what is installed, the project itself excluded (it is not published):
# with the venv's uv (make install puts it there), else with its pip.
if [ -x "$VENV/bin/uv" ]; then
    "$VENV/bin/uv" pip freeze --python "$VENV/bin/python" --exclude-editable \
        > "$work/requirements.txt" 2> "$work/freeze.err"
else
    "$VENV/bin/python" -m pip freeze --exclude-editable \
        > "$work/requirements.txt" 2> "$work/freeze.err"
fi
freeze=$?
if [ "$freeze" -ne 0 ]; then
    reason=$(grep -v '^[[:space:]]*$' "$work/freeze.err" | tail -n 1)
    echo "audit FAILED: cannot list the packages of $VENV (neither uv nor pip there: ${reason:-exit $freeze})" >&2
    exit 2
fi
if ! grep -q '^[^#[:space:]]' "$work/requirements.txt"; then
    echo "audit FAILED: no package to audit in $VENV (an empty audit is not a pass)" >&2
    exit 2
fi

"$VENV/bin/pip-audit" --no-deps --disable-pip --progress-spinner off \
    --vulnerability-service "$SERVICE" --timeout 20 \
    -r "$work/requirements.txt" -f json -o "$work/audit.json" 2> "$work/stderr"
status=$?

"$VENV/bin/python" - "$work/audit.json" "$work/requirements.txt" "$work/stderr" "$status" <<'PY'
import json, os, sys
from pathlib import Path

report, requirements, stderr, status = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
wanted = [l for l in requirements.read_text().splitlines() if l and not l.startswith("#")]
required = os.environ.get("AUDIT_REQUIRED") == "1"

def not_done(reason: str) -> None:
    print(f"audit NOT performed: {reason}")
    sys.exit(1 if required else 3)

try:
    data = json.loads(report.read_text())
except (OSError, ValueError):
    last = [l for l in stderr.read_text().splitlines() if l.strip()][-1:] or [f"exit {status}"]
    not_done(f"pip-audit failed before reporting ({last[0].strip()[:300]})")
deps = data.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
vulnerable = [d for d in deps if d.get("vulns")]
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "no fixed version"
        print(f"VULNERABLE {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
audited = len(deps) - len(skipped)
print(f"audit: {audited} of {len(wanted)} packages audited, {len(vulnerable)} vulnerable")
if vulnerable:
    sys.exit(1)
if skipped or audited < len(wanted):
    reasons = sorted({d["skip_reason"].split(":")[0] for d in skipped})
    not_done(f"{len(skipped)} of {len(wanted)} packages could not be looked up ({'; '.join(reasons)})")
sys.exit(0)
PY
