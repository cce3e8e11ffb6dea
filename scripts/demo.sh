#!/usr/bin/env bash
# One-command local demo: a dev signing key, gatehouse serving Check on
# 127.0.0.1, and sample Checks that show allow, 401 and 403. No identity
# provider needed. Runs until Ctrl-C, then cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."

GRPC_PORT="${GATEHOUSE_DEMO_GRPC_PORT:-9001}"
HTTP_PORT="${GATEHOUSE_DEMO_HTTP_PORT:-9090}"
WORK=.tmp/demo
mkdir -p "$WORK"

echo "== building gatehouse"
cargo build --quiet --bin gatehouse
BIN=target/debug/gatehouse

echo "== generating a local ES256 signing key"
"$BIN" dev keygen --alg ES256 --kid demo-1 --out-dir "$WORK" >/dev/null

cat > "$WORK/gatehouse.yaml" <<YAML
server:
  grpc_addr: 127.0.0.1:${GRPC_PORT}
  http_addr: 127.0.0.1:${HTTP_PORT}
providers:
  - name: local
    issuer: https://gatehouse.local
    audiences: [orders-api]
    algorithms: [ES256]
    jwks: { file: ${WORK}/jwks.json }
    claims_to_headers:
      - { claim: sub, header: x-user-id }
      - { claim: scope, header: x-user-scope }
rules:
  - match: { path_prefix: /public }
    allow: anonymous
  - match: { path_prefix: /api }
    require: { providers: [local] }
default: deny
YAML

"$BIN" check-config --config "$WORK/gatehouse.yaml"
"$BIN" serve --config "$WORK/gatehouse.yaml" &
PID=$!
trap 'kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 100); do
  if curl -fs "http://127.0.0.1:${HTTP_PORT}/readyz" >/dev/null 2>&1 || \
     python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:${HTTP_PORT}/readyz')" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

TOKEN=$("$BIN" dev mint --key "$WORK/signing-key.json" --sub alice --aud orders-api --scope "orders:read")
EXPIRED=$("$BIN" dev mint --key "$WORK/signing-key.json" --sub alice --aud orders-api --expired)
ADDR="http://127.0.0.1:${GRPC_PORT}"

show() {
  local shown="$*"
  shown="${shown//$TOKEN/\$TOKEN}"
  shown="${shown//$EXPIRED/\$EXPIRED}"
  echo; echo "\$ gatehouse dev check $shown"
  "$BIN" dev check --addr "$ADDR" "$@"
}
echo
echo "== a token for alice (valid 1h):"
echo "$TOKEN"
show --path /api/orders --token "$TOKEN"
show --path /api/orders
show --path /api/orders --token "$EXPIRED"
show --path /admin --token "$TOKEN"
show --path /public/status --header "x-user-id: admin"
echo
echo "gatehouse is serving Check on 127.0.0.1:${GRPC_PORT} (ops on http://127.0.0.1:${HTTP_PORT}/metrics)."
echo "Mint more tokens with: $BIN dev mint --key $WORK/signing-key.json --sub bob --aud orders-api"
echo "Press Ctrl-C to stop."
wait "$PID"
