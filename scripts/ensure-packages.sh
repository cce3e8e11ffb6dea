#!/usr/bin/env bash
# Installs the Debian packages the tests start as real servers, if missing,
# and checks that what is installed is the pinned upstream series (Debian 12's):
# redis-server 7.0 (the revocation log), nginx 1.22 (auth_request) and
# promtool from prometheus 2.42 (the alerting rules' tests). Needs
# root to install (these machines run as root); elsewhere it says what to
# install and fails.
set -euo pipefail

# command  package  series  version-command
PACKAGES=(
  "redis-server redis-server 7.0. redis-server --version"
  "nginx nginx 1.22. nginx -v"
  "promtool prometheus 2.42. promtool --version"
)

need=()
for entry in "${PACKAGES[@]}"; do
  read -r command package _ <<<"$entry"
  command -v "$command" >/dev/null || [ -x "/usr/sbin/$command" ] || need+=("$package")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing: ${need[*]}; install them (Debian 12: apt-get install ${need[*]})" >&2
    exit 1
  fi
  echo "installing ${need[*]} (Debian packages)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
  # The packages may start system-wide servers; the tests start their own.
  if command -v service >/dev/null; then
    for package in "${need[@]}"; do service "$package" stop >/dev/null 2>&1 || true; done
  fi
fi

export PATH="$PATH:/usr/sbin"
for entry in "${PACKAGES[@]}"; do
  read -r command _ series version_command <<<"$entry"
  version=$($version_command 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)
  case "$version" in
    "$series"*) ;;
    *) echo "$command $version is installed; the tests pin ${series}x (Debian 12)" >&2; exit 1 ;;
  esac
done
