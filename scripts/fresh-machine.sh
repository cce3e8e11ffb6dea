#!/usr/bin/env bash
# Runs the README's two commands the way a new user would: in a fresh clone of
# the committed HEAD, with an empty CARGO_HOME, an empty CARGO_TARGET_DIR, an
# empty pip cache and no .venv, and prints the wall time of each. A step that
# works only because something was left on this machine (a cached crate, a
# tool installed by hand, a venv, a built fuzz target) fails here.
#
# Usage: scripts/fresh-machine.sh [demo|test|both]     (default: both)
#   FRESH_DIR=DIR   where the clone and the empty caches go (default: a new
#                   directory under /tmp, removed on success, kept on failure)
#
# What it cannot empty: the Rust toolchain (rustup's, shared by design) and
# Debian packages the scripts install with apt-get (system-wide; they install
# only what is missing, so a machine without them takes the install path).
set -euo pipefail
cd "$(dirname "$0")/.."

WHAT="${1:-both}"
case "$WHAT" in demo | test | both) ;; *) echo "usage: $0 [demo|test|both]" >&2; exit 2 ;; esac
if ! git diff --quiet HEAD 2>/dev/null; then
  echo "note: uncommitted changes are not part of the check (it clones HEAD)" >&2
fi

DIR="${FRESH_DIR:-$(mktemp -d /tmp/gatehouse-fresh.XXXXXX)}"
mkdir -p "$DIR"
unset ENVOY_BIN KUBECTL_BIN KUBERNETES_VALIDATE_BIN FUZZ_TARGET_DIR

status=0
# Each command gets its own clone and its own empty caches, as on a new
# machine: neither borrows what the other built or installed.
fresh() { # name, command...
  local name=$1
  shift
  local home="$DIR/$name"
  mkdir -p "$home/cargo-home" "$home/target" "$home/pip-cache"
  git clone --quiet --no-hardlinks "$PWD" "$home/clone"
  local start end
  start=$(date +%s)
  # rustup's `cargo` proxy on PATH keeps working with an empty CARGO_HOME (the
  # toolchain lives in RUSTUP_HOME); tools installed into the new
  # CARGO_HOME/bin are found by cargo as subcommands.
  if (cd "$home/clone" && env CARGO_HOME="$home/cargo-home" CARGO_TARGET_DIR="$home/target" \
    PIP_CACHE_DIR="$home/pip-cache" "$@") >"$home.log" 2>&1; then
    end=$(date +%s)
    echo "== $name: passed in $((end - start)) s, fresh clone of $(git rev-parse --short HEAD) (log: $home.log)"
  else
    end=$(date +%s)
    echo "== $name: FAILED after $((end - start)) s; the end of $home.log:"
    tail -n 40 "$home.log"
    status=1
  fi
}

if [ "$WHAT" != test ]; then
  fresh demo env DEMO_ONCE=1 bash scripts/demo.sh
fi
if [ "$WHAT" != demo ]; then
  fresh test bash scripts/test.sh
fi

if [ "$status" = 0 ] && [ -z "${FRESH_DIR:-}" ]; then
  rm -rf "$DIR"
fi
exit "$status"
