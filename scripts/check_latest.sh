#!/usr/bin/env bash
# Install the NEWEST versions pyproject.toml's ranges allow into a fresh virtual environment and
# run the test suite, so the next breaking release of a dependency is seen before a user sees it.
# Prints which packages differ from constraints.txt (the lock the suite is known to pass with).
#   bash scripts/check_latest.sh            # newest of everything except torch (see below)
#   LLMKIT_TORCH=torch bash scripts/check_latest.sh   # newest torch too (on PyPI/Linux: CUDA wheels)
set -euo pipefail
cd "$(dirname "$0")/.."

venv_root="$(mktemp -d)"
trap 'rm -rf "$venv_root"' EXIT
python3 -m venv "$venv_root/venv"
# shellcheck disable=SC1091
source "$venv_root/venv/bin/activate"

# torch stays the locked CPU wheel by default: an unpinned torch pulls gigabytes of CUDA packages.
# The pin is also a constraint of the eager upgrade below, which would otherwise replace it.
torch_requirement="${LLMKIT_TORCH:-torch==2.13.0}"
echo "$torch_requirement" > "$venv_root/torch-constraint.txt"
python -m pip install --quiet --upgrade "$torch_requirement"
python -m pip install --quiet --upgrade --upgrade-strategy eager \
    --constraint "$venv_root/torch-constraint.txt" -e '.[dev]'

echo "Packages newer than (or missing from) constraints.txt:"
python - <<'PY'
from importlib.metadata import distributions
locked = {}
for line in open("constraints.txt"):
    line = line.split("#")[0].strip()
    if "==" in line:
        name, version = line.split("==")
        locked[name.strip().lower().replace("_", "-")] = version.strip()
for dist in sorted(distributions(), key=lambda d: d.metadata["Name"].lower()):
    name = dist.metadata["Name"].lower().replace("_", "-")
    if name != "llmkit" and locked.get(name) != dist.version.split("+")[0]:
        print(f"  {name}: {locked.get(name, '(not locked)')} -> {dist.version}")
PY

set +e
# The lock test checks the installed versions equal the lock; here they deliberately do not.
python -m pytest --deselect tests/test_lock.py::test_installed_versions_equal_the_lock
status=$?
set -e
[ "$status" -eq 5 ] && { echo "check_latest: pytest collected no tests" >&2; exit 1; }
exit "$status"
