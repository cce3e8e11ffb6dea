#!/usr/bin/env bash
# Installs the Debian packages the tests start as real servers, if missing,
# and checks that what is installed is the pinned upstream series:
# redis-server 7.0 (Debian 12's, the revocation log). Needs root to install
# (these machines run as root); elsewhere it says what to install and fails.
set -euo pipefail

REDIS_SERIES="7.0."

need=()
command -v redis-server >/dev/null || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing: ${need[*]}; install them (Debian 12: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing ${need[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
  # The package may start a system-wide server; the tests start their own.
  if command -v service >/dev/null; then service redis-server stop >/dev/null 2>&1 || true; fi
fi

version=$(redis-server --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
case "$version" in
  "$REDIS_SERIES"*) ;;
  *) echo "redis-server $version is installed; the tests pin ${REDIS_SERIES}x (Debian 12)" >&2; exit 1 ;;
esac
