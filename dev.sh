#!/usr/bin/env bash
# The two commands of prompt-workbench, each of which sets everything up first:
#
#   ./dev.sh lab    create .venv, install the workbench (offline model included) and
#                   start JupyterLab on notebooks/
#   ./dev.sh test   create .venv, install the workbench with its test tools, Debian's
#                   chromium (for the browser tests) and the promptfoo CLI (npm, cached in
#                   .cache/npm-promptfoo), run ruff and mypy (tools/lint.sh), then the whole test suite
#
# Extra arguments go to JupyterLab or pytest. The first install compiles
# llama-cpp-python from source (about 7 minutes on 2 cores); pip caches the wheel.
set -euo pipefail
cd "$(dirname "$0")"

VENV=${WORKBENCH_VENV:-.venv}
PYTHON=${PYTHON:-python3}

setup() {  # $1: the pip extra to install
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$1-$(cat pyproject.toml | sha1sum | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        echo "Installing prompt-workbench[$1] into $VENV (the first time compiles llama-cpp-python: ~7 min)..."
        if ! "$VENV/bin/python" -m pip install --progress-bar off -e ".[$1]" >"$VENV/install.log" 2>&1; then
            tail -n 40 "$VENV/install.log" >&2
            echo "Install failed; the whole log is in $VENV/install.log" >&2
            exit 1
        fi
        touch "$stamp"
    fi
}

install_promptfoo() {  # the promptfoo CLI runs the exported config in tests/adversarial/test_promptfoo_cli.py
    local cache=.cache/npm-promptfoo
    if [ -x "$cache/node_modules/.bin/promptfoo" ]; then
        return  # installed once, then offline: the test never fetches it again
    fi
    command -v npm >/dev/null || { echo "Please install Node.js 20+ with npm (for the promptfoo CLI)" >&2; exit 1; }
    echo "Installing the promptfoo CLI from the npm registry into $cache (once, ~3 min)..."
    npm install --prefix "$cache" --no-audit --no-fund --loglevel=error promptfoo >/dev/null
}

install_chromium() {  # the browser tests drive Debian's chromium with Playwright
    if [ -x /usr/bin/chromium ]; then
        return
    fi
    local sudo=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null || { echo "Please install Debian's chromium: apt-get install chromium" >&2; exit 1; }
        sudo="sudo"
    fi
    echo "Installing Debian's chromium for the browser tests..."
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

case "${1:-}" in
    lab)
        setup lab
        shift
        exec "$VENV/bin/python" -m jupyterlab --notebook-dir=notebooks "$@"
        ;;
    test)
        setup test
        install_chromium
        install_promptfoo
        shift
        echo "Lint and types first (tools/lint.sh: ruff check ., mypy workbench)..."
        WORKBENCH_VENV="$VENV" bash tools/lint.sh
        exec "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: ./dev.sh lab | ./dev.sh test [pytest args]" >&2
        exit 2
        ;;
esac
