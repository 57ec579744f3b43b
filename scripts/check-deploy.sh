#!/usr/bin/env bash
# Static checks of the deployment code, without any host: part of the test command.
#
#   ansible     ansible-lint --offline (production profile), --syntax-check of the
#               playbooks with every inventory, each inventory's group sizes
#   roles       every role variable prefixed, commented, and listed in docs/deployment.md
#   systemd     systemd-analyze security exposure of the backend unit at most 2.0
#   vagrant     vagrant validate -p, both profiles
#   terraform   every .tf parses (python-hcl2); checkov with terraform/checks/
#   shell       shellcheck of the lab and the scripts
#
# Installs what it needs: Debian's ansible, ansible-lint, vagrant, shellcheck; python-hcl2
# and checkov from PyPI into a virtualenv under $TUITALK_TOOLS_DIR
# (/var/cache/tuitalk-tools). Debian 12, as root.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TOOLS=${TUITALK_TOOLS_DIR:-/var/cache/tuitalk-tools}
MAX_EXPOSURE=2.0

say() { printf '[check-deploy] %s\n' "$*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

packages=(ansible ansible-lint vagrant shellcheck python3-venv systemd)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
if [[ ! -x $TOOLS/venv/bin/checkov ]]; then
  say "installing python-hcl2 and checkov into $TOOLS/venv"
  /usr/bin/python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q python-hcl2 checkov >&2
fi

say "ansible-lint --offline"
(cd ansible && ansible-lint --offline -q) || fail "ansible-lint"

for inventory in lab vagrant vagrant-small production; do
  say "syntax and groups: inventories/$inventory"
  for playbook in site.yml rolling-restart.yml; do
    (cd ansible && ansible-playbook -i "inventories/$inventory" "$playbook" --syntax-check >/dev/null) \
      || fail "ansible-playbook --syntax-check $playbook with $inventory"
  done
  sizes=$(cd ansible && ansible-inventory -i "inventories/$inventory" --list | python3 -c '
import json, sys
inv = json.load(sys.stdin)
sizes = {g: len(inv.get(g, {}).get("hosts", [])) for g in ("loadbalancer", "backend", "redis", "postgresql")}
print(" ".join(f"{g}={n}" for g, n in sizes.items()))')
  case $inventory in
    vagrant-small) want="loadbalancer=1 backend=2 redis=3 postgresql=1" ;;
    *) want="loadbalancer=2 backend=3 redis=6 postgresql=1" ;;
  esac
  [[ $sizes == "$want" ]] || fail "inventories/$inventory has $sizes, not $want"
done

say "role variables (scripts/role-variables.py --check)"
python3 scripts/role-variables.py --check || fail "role variables"

say "systemd-analyze security systemd/tuitalk-server.service"
exposure=$(SYSTEMD_COLORS=0 systemd-analyze security --offline=true systemd/tuitalk-server.service 2>/dev/null \
  | awk '/Overall exposure level/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+$/) print $i }')
[[ -n $exposure ]] || fail "no exposure level from systemd-analyze"
printf '{"check":"systemd-analyze security","unit":"tuitalk-server.service","exposure":%s}\n' "$exposure"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' || fail "exposure $exposure above $MAX_EXPOSURE"

say "vagrant validate -p"
vagrant validate -p >/dev/null || fail "vagrant validate -p"
TUITALK_VAGRANT_PROFILE=small vagrant validate -p >/dev/null || fail "vagrant validate -p (small)"

say "terraform: python-hcl2 and checkov"
for tf in terraform/*/*.tf; do
  "$TOOLS/venv/bin/python" -c 'import hcl2, sys; hcl2.load(open(sys.argv[1]))' "$tf" || fail "$tf does not parse"
done
"$TOOLS/venv/bin/checkov" -d terraform/hcloud --framework terraform --skip-download \
  --external-checks-dir terraform/checks -o json 2>/dev/null >"$TOOLS/checkov.json" || true
python3 - "$TOOLS/checkov.json" <<'EOF' || fail "checkov"
import json, sys
report = json.load(open(sys.argv[1]))
summary = report["summary"]
failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
print(json.dumps({"check": "checkov", "passed": summary["passed"], "failed": summary["failed"],
                  "parsing_errors": summary["parsing_errors"], "failures": failed}))
sys.exit(1 if failed or summary["parsing_errors"] or summary["passed"] == 0 else 0)
EOF

say "shellcheck"
shellcheck -x -e SC1091 lab/hosts lab/hosts-drill.sh scripts/build-static.sh scripts/check-deploy.sh \
  ansible/roles/loadbalancer/files/usr/local/sbin/* || fail "shellcheck"

say "all deployment checks passed"
