#!/usr/bin/env bash
# Installs the Debian packages the tests start as real servers, if missing:
# redis-server (the revocation log). Needs root (these machines run as root);
# elsewhere it says what to install and fails.
set -euo pipefail

need=()
command -v redis-server >/dev/null || need+=(redis-server)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing: ${need[*]}; install them (Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "installing ${need[*]} (Debian packages)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
# The package may start a system-wide server; the tests start their own.
if command -v service >/dev/null; then service redis-server stop >/dev/null 2>&1 || true; fi
