#!/usr/bin/env bash
# Lint and type-check with the venv's tools, configured in pyproject.toml:
#   ruff check .        (the whole tree: package, tests, benchmarks, notebooks)
#   mypy workbench      (the package)
# Both run even if the first fails; the exit status is non-zero if either found anything.
# Extra arguments go to ruff (e.g. tools/lint.sh --fix). The venv is $WORKBENCH_VENV, else .venv.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${WORKBENCH_VENV:-.venv}
for tool in ruff mypy; do
    if [ ! -x "$VENV/bin/$tool" ]; then
        echo "$VENV/bin/$tool is missing. Fix: ./dev.sh test installs it (or pip install -e '.[lint]')." >&2
        exit 2
    fi
done
status=0
echo "== ruff check"
"$VENV/bin/ruff" check "$@" . || status=1
echo "== mypy workbench"
"$VENV/bin/mypy" workbench || status=1
exit $status
