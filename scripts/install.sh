#!/usr/bin/env bash
# Sourced by ./stratus and ./run-tests: make sure .venv holds Stratus (and, for tests, its test
# dependencies). Re-installs only when pyproject.toml changed. Needs only python3 (3.11+) and pip.
set -euo pipefail

STRATUS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${STRATUS_VENV:-$STRATUS_ROOT/.venv}"
PYTHON="${PYTHON:-python3}"

_say() { printf 'stratus-install: %s\n' "$*" >&2; }
# shellcheck source=runtime-sdks.sh
source "$STRATUS_ROOT/scripts/runtime-sdks.sh"

_make_venv() {
    [ -x "$VENV/bin/python" ] && return 0
    if "$PYTHON" -m venv "$VENV" 2>/dev/null; then return 0; fi
    rm -rf "$VENV"
    # Debian's python3 without python3-venv has no ensurepip: make a bare venv and let the
    # system pip install into it.
    if "$PYTHON" -m venv --without-pip "$VENV" 2>/dev/null && "$PYTHON" -m pip --version >/dev/null 2>&1; then
        _say "no ensurepip; using the system pip to install into $VENV"
        return 0
    fi
    rm -rf "$VENV"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        _say "installing python3-venv with apt-get"
        apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        "$PYTHON" -m venv "$VENV" && return 0
    fi
    _say "cannot create a virtual environment: install python3-venv (Debian) and retry"
    exit 1
}

_pip() {
    if "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip "$@"
    else
        "$PYTHON" -m pip --python "$VENV/bin/python" "$@"
    fi
}

# _ensure_tool COMMAND PACKAGE PURPOSE FALLBACK: install Debian's PACKAGE with apt-get (as root) unless
# COMMAND exists; else say what Stratus does without it. The package lists are refreshed once per run.
_APT_UPDATED=""
_ensure_tool() {
    local tool="$1" package="$2" purpose="$3" fallback="$4"
    command -v "$tool" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        _say "installing $package ($purpose) with apt-get"
        if [ -z "$_APT_UPDATED" ]; then
            apt-get update -qq >/dev/null 2>&1 && _APT_UPDATED=1
        fi
        apt-get install -y -qq "$package" >/dev/null 2>&1 && return 0
    fi
    _say "$tool is not installed (apt-get install $package): $fallback"
}

# ensure_installed EXTRAS: EXTRAS is "" or "test".
ensure_installed() {
    local extras="${1:-}" spec="$STRATUS_ROOT" stamp
    [ -n "$extras" ] && spec="$STRATUS_ROOT[$extras]"
    _make_venv
    # Functions run in bubblewrap namespaces where the host allows it, else in the plain sandbox.
    _ensure_tool bwrap bubblewrap "function sandbox" "functions will run in the plain sandbox"
    # Each namespaced environment has a network of its own; pasta gives it outbound access
    # (STRATUS_FUNCTION_NETWORK=outbound, the default). Without pasta, functions get loopback only.
    _ensure_tool pasta passt "pasta: functions' outbound network" "functions will have no outbound network"
    stamp="$VENV/.stratus-installed-$(cat "$STRATUS_ROOT/pyproject.toml" | cksum | cut -d' ' -f1)-${extras:-base}"
    if [ ! -f "$stamp" ]; then
        _say "installing Stratus${extras:+ with $extras extras} into $VENV"
        _pip install --quiet --disable-pip-version-check -e "$spec"
        touch "$stamp"
    fi
    source "$STRATUS_ROOT/scripts/runtime-interpreters.sh" && ensure_node_majors  # Node.js 22, 24 (runtimes)
    ensure_runtime_sdks  # the AWS SDKs functions find in their runtime (scripts/runtime-sdks.sh)
    [ "$extras" = test ] && ensure_aws_cli_v2
    return 0
}

# The AWS CLI v2 (tests of `aws logs tail`, a v2-only command; the pip awscli of the test extras is v1): Debian's
# awscli package (2.9.19 on bookworm), which installs /usr/bin/aws beside pip's v1 on PATH. AWS's own zip is not
# reachable from every machine that runs the tests; Debian's archive is.
AWS_CLI_V2="${STRATUS_TEST_AWS_CLI_V2:-/usr/bin/aws}"
ensure_aws_cli_v2() {
    if [ -x "$AWS_CLI_V2" ] && "$AWS_CLI_V2" --version 2>/dev/null | grep -q '^aws-cli/2\.'; then return 0; fi
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        _say "installing the AWS CLI v2 (Debian's awscli, for the logs tests) with apt-get"
        if [ -z "$_APT_UPDATED" ]; then
            apt-get update -qq >/dev/null 2>&1 && _APT_UPDATED=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq awscli >/dev/null 2>&1 \
            && "$AWS_CLI_V2" --version 2>/dev/null | grep -q '^aws-cli/2\.' && return 0
    fi
    _say "no AWS CLI v2 at $AWS_CLI_V2 (apt-get install awscli, or set STRATUS_TEST_AWS_CLI_V2): the aws logs tail test is skipped"
}
