# Sourced by scripts/install.sh: the AWS SDKs functions find in their runtime, as on AWS (boto3 for
# python3.x, the @aws-sdk v3 clients for nodejs*.x), installed from the package registries at the
# versions pinned in runtime-sdk/ into $VENV/share/stratus/runtime-sdk/{python,python3.11,python3.9,node}.
# Each is installed again only when its pin files change (a stamp holds their checksum); a failed
# install says so in one line and leaves functions without that SDK (Stratus itself still works).

RUNTIME_SDK_PINS="$STRATUS_ROOT/runtime-sdk"
RUNTIME_SDK_DIR="$VENV/share/stratus/runtime-sdk"

# _sdk_stamp NAME FILES...: the stamp of NAME installed from these exact pin files.
_sdk_stamp() { printf '%s/.%s-%s' "$RUNTIME_SDK_DIR" "$1" "$(shift; cat "$@" | cksum | cut -d' ' -f1)"; }

# _sdk_recently_failed STAMP NAME: a failed install is tried again an hour later (or when the pins change),
# so that every `./stratus` on a machine without the registries does not wait for them.
_sdk_recently_failed() {
    [ -n "$(find "$1.failed" -mmin -60 2>/dev/null)" ] || return 1
    _say "the runtime SDK for $2 functions is not installed (it failed less than an hour ago; rm $1.failed to retry now)"
}

# _sdk_swap NAME STAGING: put a finished install in place at once (functions never see half of one).
_sdk_swap() {
    local name="$1" staging="$2"
    rm -rf "$RUNTIME_SDK_DIR/.old-$name"
    [ -e "$RUNTIME_SDK_DIR/$name" ] && mv "$RUNTIME_SDK_DIR/$name" "$RUNTIME_SDK_DIR/.old-$name"
    mv "$staging" "$RUNTIME_SDK_DIR/$name"
    rm -rf "$RUNTIME_SDK_DIR/.old-$name"
    rm -f "$RUNTIME_SDK_DIR/.$name"-*  # older stamps, failures included
}

# _sdk_python NAME REQUIREMENTS [PIP ARGS...]: pure-Python wheels, no dependency resolution (every package is
# pinned; a requirements file may include python-requirements.txt, which is part of every stamp).
_sdk_python() {
    local name="$1" file="$2" requirements="$RUNTIME_SDK_PINS/$2" stamp staging
    shift 2
    stamp="$(_sdk_stamp "$name" "$requirements" "$RUNTIME_SDK_PINS/python-requirements.txt")"
    [ -f "$stamp" ] && return 0
    _sdk_recently_failed "$stamp" "$name" && return 0
    staging="$(mktemp -d "$RUNTIME_SDK_DIR/.tmp-$name-XXXXXX")"
    _say "installing the runtime SDK for $name functions (runtime-sdk/$file)"
    if _pip install --quiet --disable-pip-version-check --no-deps --only-binary=:all: --target "$staging" \
            "$@" -r "$requirements" >"$staging.log" 2>&1; then
        chmod -R a+rX "$staging"
        _sdk_swap "$name" "$staging" && touch "$stamp"
    else
        _say "could not install the runtime SDK for $name functions (PyPI unreachable?): they run without boto3 ($(grep -m1 -i error "$staging.log" || true))"
        rm -rf "$staging"
        touch "$stamp.failed"
    fi
    rm -f "$staging.log"
}

# _sdk_node: `npm ci` from the committed lockfile, no install scripts.
_sdk_node() {
    local pins="$RUNTIME_SDK_PINS/node" stamp staging
    stamp="$(_sdk_stamp node "$pins/package.json" "$pins/package-lock.json")"
    [ -f "$stamp" ] && return 0
    _sdk_recently_failed "$stamp" node && return 0
    if ! command -v npm >/dev/null; then
        _say "npm is not installed: nodejs functions run without the runtime's @aws-sdk clients"
        return 0
    fi
    staging="$(mktemp -d "$RUNTIME_SDK_DIR/.tmp-node-XXXXXX")"
    cp "$pins/package.json" "$pins/package-lock.json" "$staging/"
    _say "installing the runtime SDK for nodejs functions (runtime-sdk/node)"
    if (cd "$staging" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
            --fetch-retries=1 --fetch-timeout=60000) \
            >"$staging.log" 2>&1; then
        chmod -R a+rX "$staging"
        _sdk_swap node "$staging" && touch "$stamp"
    else
        _say "could not install the runtime SDK for nodejs functions (npm registry unreachable?): they run without the runtime's @aws-sdk clients ($(grep -m1 -i err "$staging.log" || true))"
        rm -rf "$staging"
        touch "$stamp.failed"
    fi
    rm -f "$staging.log"
}

ensure_runtime_sdks() {
    mkdir -p "$RUNTIME_SDK_DIR"
    chmod a+rx "$VENV/share/stratus" "$RUNTIME_SDK_DIR"
    _sdk_python python python-requirements.txt
    _sdk_python python3.11 python311-requirements.txt
    _sdk_python python3.9 python39-requirements.txt
    # debug mode's debugpy (invoke/debug.py), the interpreter-independent wheel whatever the server's Python
    _sdk_python debugpy debugpy-requirements.txt --platform any --implementation py --abi none --python-version 3.10
    _sdk_python debugpy3.9 debugpy39-requirements.txt --platform any --implementation py --abi none --python-version 3.9
    _sdk_node
}
