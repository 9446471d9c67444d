# Shared by scripts/example.sh, scripts/test.sh and .ci/run (sourced, not run).
#
# Makes the project's own virtual environment (.venv at the repo root, or $HYPERNODES_VENV), installs
# maturin and any extra packages into it, and builds the Rust extension into it once, in release mode.
# Needs only Rust (cargo), Python 3.11+ with pip (and venv), and a C compiler on the machine.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tests and examples talk only to this machine: Daft would send usage analytics to the network.
export DAFT_ANALYTICS_ENABLED="${DAFT_ANALYTICS_ENABLED:-0}"
VENV="${HYPERNODES_VENV:-$ROOT/.venv}"
VPY="$VENV/bin/python"

say() { printf '==> %s\n' "$*" >&2; }

pick_python() {
    # Prefer an explicit $PYTHON, then python3.11, then any python3 that is at least 3.11.
    local cand
    for cand in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
        [ -n "$cand" ] || continue
        if command -v "$cand" >/dev/null 2>&1 &&
            "$cand" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$cand"
            return 0
        fi
    done
    echo "error: needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
    return 1
}

# ensure_venv [pip packages...]: creates the venv if absent, installs maturin and the packages.
ensure_venv() {
    if [ ! -x "$VPY" ]; then
        local py
        py="$(pick_python)"
        say "creating virtual environment $VENV with $py"
        "$py" -m venv "$VENV"
    fi
    say "installing build tools${*:+ and $*} into $VENV"
    "$VPY" -m pip install --quiet --disable-pip-version-check "maturin>=1.7,<2" "$@"
}

# ensure_viz_tools: the programs the visualization tests use: Graphviz's `dot` (static pictures) and
# Chromium with its driver (the interactive page's browser test). Installed with apt-get (Debian's
# graphviz, chromium and chromium-driver) when absent and this runs as root or with sudo; fails,
# naming what is missing, when they cannot be installed.
ensure_viz_tools() {
    local missing=()
    command -v dot >/dev/null 2>&1 || missing+=(graphviz)
    command -v chromium >/dev/null 2>&1 || missing+=(chromium)
    command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo -n"; else
            echo "error: missing ${missing[*]}; install them (apt-get install ${missing[*]})" >&2
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: missing ${missing[*]} and no apt-get to install them" >&2
        return 1
    fi
    say "installing ${missing[*]} with apt-get"
    $sudo apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
}

# build [maturin args...]: builds hypernodes (Rust engine + PyO3 binding, release) into the venv,
# as an editable install of python/hypernodes. The log is kept in $VENV/build.log, shown on failure.
build() {
    local log="$VENV/build.log" start=$SECONDS
    say "building hypernodes (release) into $VENV (a few minutes the first time; log: $log)"
    if ! (
        cd "$ROOT"
        export VIRTUAL_ENV="$VENV"
        export PATH="$VENV/bin:$PATH"
        "$VENV/bin/maturin" develop --release "$@"
    ) >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "error: the build failed (full log: $log)" >&2
        return 1
    fi
    say "built in $((SECONDS - start)) s"
}

# step NAME CMD...: runs one step, timing it; a failure is recorded and the run goes on.
# finish WHO: exits non-zero, listing the failed steps, if any step failed.
FAILED_STEPS=()
step() {
    local name="$1"
    shift
    say "$name"
    local start=$SECONDS rc=0
    "$@" || rc=$?
    if [ "$rc" -eq 0 ]; then
        say "$name: ok ($((SECONDS - start)) s)"
    else
        say "$name: FAILED (exit $rc, $((SECONDS - start)) s)"
        FAILED_STEPS+=("$name")
    fi
}
finish() {
    if [ "${#FAILED_STEPS[@]}" -gt 0 ]; then
        printf '%s: FAILED steps:' "$1" >&2
        printf ' [%s]' "${FAILED_STEPS[@]}" >&2
        printf '\n' >&2
        exit 1
    fi
    say "$1: every step succeeded"
}
