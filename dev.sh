#!/usr/bin/env bash
# The two commands of prompt-workbench, each of which sets everything up first:
#
#   ./dev.sh lab    create .venv, install the workbench (offline model included) and
#                   start JupyterLab on notebooks/
#   ./dev.sh test   create .venv, install the workbench with its test tools, Debian's
#                   chromium (for the browser tests) and the promptfoo CLI (npm, cached in
#                   .cache/npm-promptfoo), run ruff and mypy (tools/lint.sh), then the whole test suite
#
#   ./dev.sh setup [extra]   only the install step (extra: lab, test, ...; default lab)
#
# Extra arguments go to JupyterLab or pytest. llama-cpp-python (the offline model) comes
# first: a prebuilt CPU wheel from its own index is tried (seconds when it can be had),
# then PyPI's source, which compiles llama.cpp (about 7 minutes on 2 free cores, 20 on a
# busy machine; a line every 30 s shows it is still going). pip caches the built wheel, so
# later venvs install in seconds. Faster still: conda-forge ships it built (see README,
# "Install with conda": conda env create -f environment.yml).
set -euo pipefail
cd "$(dirname "$0")"

VENV=${WORKBENCH_VENV:-.venv}
PYTHON=${PYTHON:-python3}

LLAMA_REQ="llama-cpp-python>=0.3.7"  # keep in step with pyproject.toml
LLAMA_WHEEL_INDEX=${LLAMA_WHEEL_INDEX:-https://abetlen.github.io/llama-cpp-python/whl/cpu}
PROGRESS_SECONDS=${WORKBENCH_PROGRESS_SECONDS:-30}

elapsed() {  # seconds since $1 as "4m05s"
    local s=$(( $(date +%s) - $1 ))
    printf '%dm%02ds' $((s / 60)) $((s % 60))
}

with_progress() {  # $1: what is being done, $2: log file, rest: the command; a line every PROGRESS_SECONDS
    local what=$1 log=$2 start pid rc=0
    shift 2
    start=$(date +%s)
    "$@" >>"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        local waited=0
        while [ "$waited" -lt "$PROGRESS_SECONDS" ] && kill -0 "$pid" 2>/dev/null; do
            sleep 1
            waited=$((waited + 1))
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "  ... still $what: $(elapsed "$start") elapsed (log: $log)"
        fi
    done
    wait "$pid" || rc=$?
    echo "  $what took $(elapsed "$start")"
    return "$rc"
}

install_llama() {  # the offline model's engine: a prebuilt wheel when one can be had, else compile
    local log=$1 start
    if "$VENV/bin/python" -c "import llama_cpp" >/dev/null 2>&1; then
        return
    fi
    start=$(date +%s)
    echo "llama-cpp-python: trying a prebuilt CPU wheel from $LLAMA_WHEEL_INDEX ..."
    # fail fast when that index cannot be reached (offline, proxy): one try, 10 s socket timeout
    if "$VENV/bin/python" -m pip install --progress-bar off --timeout 10 --retries 0 \
            --only-binary llama-cpp-python --extra-index-url "$LLAMA_WHEEL_INDEX" "$LLAMA_REQ" >>"$log" 2>&1; then
        echo "  prebuilt wheel installed in $(elapsed "$start")"
        return
    fi
    echo "  no prebuilt wheel for this machine ($(elapsed "$start")); installing from source instead."
    echo "  Compiling llama.cpp takes about 7 minutes on 2 free cores (up to 20 on a busy machine),"
    echo "  seconds if pip cached a wheel from an earlier install. Conda users: see README, 'Install with conda'."
    if ! with_progress "compiling llama-cpp-python" "$log" \
            "$VENV/bin/python" -m pip install --progress-bar off "$LLAMA_REQ"; then
        tail -n 40 "$log" >&2
        echo "Installing llama-cpp-python failed; the whole log is in $log" >&2
        exit 1
    fi
}

setup() {  # $1: the pip extra to install
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
    local stamp="$VENV/.installed-$1-$(cat pyproject.toml | sha1sum | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        local log="$VENV/install.log"
        : >"$log"
        "$VENV/bin/python" -m pip install --quiet --upgrade pip
        install_llama "$log"
        echo "Installing prompt-workbench[$1] into $VENV ..."
        if ! with_progress "installing prompt-workbench[$1]" "$log" \
                "$VENV/bin/python" -m pip install --progress-bar off -e ".[$1]"; then
            tail -n 40 "$log" >&2
            echo "Install failed; the whole log is in $log" >&2
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
    setup)
        setup "${2:-lab}"
        ;;
    *)
        echo "usage: ./dev.sh lab | ./dev.sh test [pytest args] | ./dev.sh setup [extra]" >&2
        exit 2
        ;;
esac
