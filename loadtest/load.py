#!/usr/bin/env python3
"""The measurements behind docs/PERFORMANCE.md; run through loadtest/load.sh.

Everything listens on 127.0.0.1. The servers (gatehouse, the no-op ext_authz
server, Envoy) are pinned to one core (SERVER_CPU), the load generators
(h2load, wrk) to the other (CLIENT_CPU). Every load run is bounded in time
(h2load -D, wrk -d, plus a subprocess timeout).

Per run: req/s, ratio to the relevant baseline, server CPU-seconds per
request (utime+stime from /proc/<pid>/stat before/after the measured window,
for each server process), server RSS after the run, the load generator's own
CPU share (a run whose client is near 100% is client-bound), and the real
outcomes (gatehouse's /metrics, Envoy's admin stats, HTTP status codes).

Needs PyYAML (the Envoy venv that scripts/ensure-tools.sh installs has it).
"""

import argparse
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import yaml

CLK_TCK = os.sysconf("SC_CLK_TCK")
GRPC_PATH = "/envoy.service.auth.v3.Authorization/Check"
ISSUER = "https://gatehouse.local"
AUDIENCE = "orders-api"

# The realistic request: what a browser's API call carries besides the bearer
# token (~1.7 KB of headers, a 1 KB cookie). Every Envoy/nginx run and the
# framed direct Check send these, so each ext_authz server decodes the same
# CheckRequest Envoy would send it.
REALISTIC_HEADERS = [
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"),
    ("accept", "application/json, text/plain, */*"),
    ("accept-language", "en-GB,en-US;q=0.9,en;q=0.8,de;q=0.7"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("cookie", "; ".join(f"c{i}={'v' * 60}{i:04d}" for i in range(15))),
    ("x-request-id", "6f1c1f4e-2d7b-4f43-9a51-5b3c1a0e7d21"),
    ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("tracestate", "vendor=t61rcWkgMzE"),
    ("referer", "https://app.example.com/orders"),
    ("origin", "https://app.example.com"),
    ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("sec-fetch-site", "same-site"),
    ("sec-fetch-mode", "cors"),
    ("sec-fetch-dest", "empty"),
]

CHILDREN = []
QUIET_SPENT = 0.0


def log(message):
    print(message, flush=True)


# --------------------------------------------------------------------------- processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(name, argv, cpu, logdir, env=None):
    logf = open(os.path.join(logdir, f"{name}.log"), "wb")
    proc = subprocess.Popen(
        ["taskset", "-c", str(cpu)] + argv,
        stdin=subprocess.DEVNULL,
        stdout=logf,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    proc.bench_name = name
    CHILDREN.append(proc)
    return proc


def stop_all():
    for proc in CHILDREN:
        if proc.poll() is None:
            try:
                proc.terminate()
            except ProcessLookupError:
                pass
    deadline = time.time() + 5
    for proc in CHILDREN:
        try:
            proc.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def children(pid):
    """Direct child processes (nginx's workers under its master)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


def cpu_seconds(pid):
    """CPU of the process and its children still running (nginx workers)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return own + sum(cpu_seconds(child) for child in children(pid))


def rss_kib(pid):
    total = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                total = int(line.split()[1])
    return total + sum(rss_kib(child) for child in children(pid))


def busy_seconds():
    """CPU seconds the whole machine spent in user, nice and system time (all cores)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return (int(fields[1]) + int(fields[2]) + int(fields[3])) / CLK_TCK


def wait_quiet(budget):
    """Waits (at most `budget` s) until the machine is idle apart from us: this
    machine may be shared, and another process's build would skew a run."""
    global QUIET_SPENT
    deadline = time.time() + max(0.0, min(budget, ARGS.quiet_budget - QUIET_SPENT))
    started = time.time()
    while True:
        before = busy_seconds()
        time.sleep(0.5)
        busy = (busy_seconds() - before) / 0.5
        if busy < ARGS.quiet_threshold or time.time() >= deadline:
            QUIET_SPENT += time.time() - started - 0.5
            return busy


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read().decode()


def wait_until(what, check, proc, timeout=20.0):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.bench_name} exited during start-up (see its log)")
        try:
            if check():
                return
        except Exception as error:  # not up yet
            last = error
        time.sleep(0.05)
    raise SystemExit(f"{what} not ready within {timeout}s: {last}")


# --------------------------------------------------------------------------- gatehouse


def gatehouse_config(grpc_port, http_port, jwks, cache, http_check_port=None):
    """`grpc_port` is a TCP port on 127.0.0.1, or a `unix:/path` string."""
    grpc_addr = grpc_port if isinstance(grpc_port, str) else f"127.0.0.1:{grpc_port}"
    lines = [
        "server:",
        f'  grpc_addr: "{grpc_addr}"',
        f'  http_addr: "127.0.0.1:{http_port}"',
    ]
    if http_check_port:
        lines.append(f'  http_check_addr: "127.0.0.1:{http_check_port}"')
    lines += [
        "providers:",
        "  - name: bench",
        f"    issuer: {ISSUER}",
        f"    audiences: [{AUDIENCE}]",
        "    algorithms: [RS256]",
        f"    jwks: {{ inline: '{jwks}' }}",
        "    claims_to_headers:",
        "      - { claim: sub, header: x-user-id }",
        "rules:",
        "  - match: { path_prefix: / }",
        "    require: { providers: [bench] }",
    ]
    if not cache:
        lines.append("cache: { enabled: false }")
    return "\n".join(lines) + "\n"


def metrics_text(http_port):
    return http_get(f"http://127.0.0.1:{http_port}/metrics")[1]


def decisions(text):
    """(allow, deny) totals from gatehouse_check_requests_total."""
    allow = deny = 0.0
    for line in text.splitlines():
        if line.startswith("gatehouse_check_requests_total{"):
            value = float(line.rsplit(" ", 1)[1])
            if 'decision="allow"' in line:
                allow += value
            else:
                deny += value
    return allow, deny


def histogram(text, name="gatehouse_check_duration_seconds"):
    """Cumulative bucket counts of every Check, summed over the histogram's
    series (it is split by decision and token-cache outcome)."""
    buckets = {}
    for line in text.splitlines():
        m = re.match(rf'{name}_bucket\{{(?:[^}}]*,)?le="([^"]+)"(?:,[^}}]*)?\}} (\S+)', line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            buckets[le] = buckets.get(le, 0.0) + float(m.group(2))
    return buckets


def quantile(before, after, q):
    """(interpolated quantile, upper bound of its bucket), seconds, over the delta."""
    les = sorted(after)
    delta = [(le, after[le] - before.get(le, 0.0)) for le in les]
    total = delta[-1][1] if delta else 0
    if total <= 0:
        return None, None
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in delta:
        if count >= rank:
            if le == float("inf"):
                return prev_le, le
            inside = count - prev_count
            frac = (rank - prev_count) / inside if inside > 0 else 1.0
            return prev_le + (le - prev_le) * frac, le
        prev_le, prev_count = le, count
    return None, None


# --------------------------------------------------------------------------- Envoy


def jwt_authn_filter(jwks, cache):
    provider = {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "local_jwks": {"inline_string": jwks},
        "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
        "forward": False,
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}],
    }
    if cache:
        # Envoy caches verified tokens only when jwt_cache_config is present;
        # an empty one means the default size (100 tokens per worker).
        provider["jwt_cache_config"] = {}
    return {
        "name": "envoy.filters.http.jwt_authn",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
            "providers": {"bench": provider},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "bench"}}],
        },
    }


def envoy_config(path, admin_port, listen_port, authz_port, auth, jwks, template="sidecar.yaml", extra=None,
                 adapt=None):
    """Writes to `path` deploy/envoy/<template> with ports (rendered by the
    tests' renderer, `bench_util render-envoy`); access log off; every route a
    direct_response (no upstream process); the auth filter chosen by `auth`;
    `extra` render values (e.g. the Unix-socket cluster); `adapt` edits the
    parsed config last."""
    values = {
        "admin_port": admin_port,
        "listen_port": listen_port,
        "access_log": "/dev/null",
        "gatehouse_port": authz_port or 1,
        "upstream_port": 1,
        # The sidecar config's default cluster is the Unix socket; these runs ask over TCP unless told.
        **({"gatehouse_cluster": "gatehouse"} if template == "sidecar.yaml" else {}),
        **(extra or {}),
    }
    sets = [arg for name, value in values.items() for arg in ("--set", f"{name}={value}")]
    subprocess.run([os.path.join(ARGS.examples, "bench_util"), "render-envoy", "--template", template,
                    "--out", path, *sets], check=True)
    with open(path) as f:
        rendered = f.read()
    config = yaml.safe_load(rendered)
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["address"] = "127.0.0.1"
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    hcm.pop("access_log", None)
    for vhost in hcm["route_config"]["virtual_hosts"]:
        vhost["routes"] = [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}
        ]
    router = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.router"]
    ext_authz = [f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz"]
    if auth == "none":
        hcm["http_filters"] = router
    elif auth == "ext_authz":
        hcm["http_filters"] = ext_authz + router
    elif auth in ("jwt_cache", "jwt_nocache"):
        hcm["http_filters"] = [jwt_authn_filter(jwks, auth == "jwt_cache")] + router
    else:
        raise ValueError(auth)
    if adapt:
        adapt(config)
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)


def ext_authz_of(config):
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return next(f for f in hcm["http_filters"] if f["name"] == "envoy.filters.http.ext_authz")["typed_config"]


def all_headers(config):
    """Envoy sends the ext_authz server every request header (no `allowed_headers`),
    instead of the shipped configs' list of what gatehouse reads."""
    ext_authz_of(config).pop("allowed_headers", None)


def http1_pool(config):
    """Envoy asks the HTTP check service over HTTP/1.1 (a connection pool) instead of h2c."""
    for cluster in config["static_resources"]["clusters"]:
        if cluster["name"] == "gatehouse":
            cluster.pop("typed_extension_protocol_options", None)


def nginx_config(path, listen_port, gatehouse_port, auth):
    """Writes to `path` deploy/nginx/nginx.conf rendered with ports and paths
    under the work directory (`bench_util render-nginx`), one worker, no access
    log, the app a `return 200` server inside the same nginx; without `auth`
    the `auth_request` line is dropped (the baseline: the rest stays, its
    variables empty)."""
    work = os.path.dirname(path)
    app_port = free_port()
    temp = os.path.join(work, "nginx-temp")
    values = {
        "pid": os.path.join(work, f"nginx-{listen_port}.pid"),
        "error_log": os.path.join(work, "logs", f"nginx-{listen_port}-error.log") + " warn",
        "access_log": "off",
        "listen": f"127.0.0.1:{listen_port}",
        "gatehouse": f"127.0.0.1:{gatehouse_port or 1}",
        "upstream": f"127.0.0.1:{app_port}",
    }
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(temp, name), exist_ok=True)
        values[f"{name}_temp_path"] = os.path.join(temp, name)
    sets = [arg for name, value in values.items() for arg in ("--set", f"{name}={value}")]
    subprocess.run([os.path.join(ARGS.examples, "bench_util"), "render-nginx", "--out", path, *sets], check=True)
    with open(path) as f:
        lines = f.read().splitlines()
    lines = [l.replace("worker_processes auto;", "worker_processes 1;") for l in lines]
    if not auth:
        lines = [l for l in lines if not l.strip().startswith("auth_request /")]
    # The app: the last `}` closes `http`.
    closing = max(i for i, l in enumerate(lines) if l.strip() == "}")
    app = [f"    server {{ listen 127.0.0.1:{app_port}; location / {{ return 200 \"ok\\n\"; }} }}"]
    with open(path, "w") as f:
        f.write("\n".join(lines[:closing] + app + lines[closing:]) + "\n")


def envoy_stats(admin_port, pattern):
    _, text = http_get(f"http://127.0.0.1:{admin_port}/stats?filter={pattern}")
    stats = {}
    for line in text.splitlines():
        if ": " in line:
            key, value = line.split(": ", 1)
            try:
                stats[key] = int(value)
            except ValueError:
                pass
    return stats


# --------------------------------------------------------------------------- load


def run_client(argv, timeout):
    """Runs a load generator pinned to CLIENT_CPU; (output, wall seconds, exit code)."""
    started = time.time()
    proc = subprocess.Popen(
        ["taskset", "-c", str(ARGS.client_cpu)] + argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, TOKENS_FILE=ARGS.tokens, HEADERS_FILE=ARGS.headers_file),
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise SystemExit(f"load generator did not finish within {timeout}s: {argv}\n{out.decode()}")
    wall = time.time() - started
    return out.decode(errors="replace"), wall, proc.returncode


def child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def h2load_argv(target, duration, mode):
    if mode == "grpc":
        return [
            "h2load", "-D", str(duration), "-t", "1", "-c", str(ARGS.direct_conns), "-m", str(ARGS.direct_streams),
            "-d", ARGS.frame, "-H", "content-type: application/grpc", "-H", "te: trailers",
            f"http://127.0.0.1:{target}{GRPC_PATH}",
        ]
    headers = [arg for name, value in REALISTIC_HEADERS for arg in ("-H", f"{name}: {value}")]
    return [
        "h2load", "-D", str(duration), "-t", "1", "-c", str(ARGS.envoy_conns), "-m", str(ARGS.envoy_streams),
        "-H", f"authorization: Bearer {ARGS.token}", *headers, f"http://127.0.0.1:{target}/api/orders/42",
    ]


def wrk_argv(target, duration):
    return [
        "wrk", "-t", "1", "-c", str(ARGS.wrk_conns), "-d", f"{duration}s", "--timeout", "5s",
        "-s", os.path.join(ARGS.root, "loadtest", "tokens.lua"), f"http://127.0.0.1:{target}/api/orders/42",
    ]


def parse_h2load(out, in_flight):
    """(req/s, done, 2xx, bad). Requests still in flight when -D's time is up are
    counted as failed by h2load: up to `in_flight` of those are not a problem."""
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", out)
    r = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    if not (m and r and s):
        raise SystemExit(f"cannot parse h2load output:\n{out}")
    done = int(r.group(3))
    failed = max(0, int(r.group(5)) - in_flight)
    bad = failed + int(r.group(6)) + int(r.group(7)) + sum(int(s.group(i)) for i in (2, 3, 4))
    return float(m.group(1)), done, int(s.group(1)), bad


def parse_wrk(out):
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r = re.search(r"(\d+) requests in", out)
    if not (m and r):
        raise SystemExit(f"cannot parse wrk output:\n{out}")
    done = int(r.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    if errors:
        bad += sum(int(errors.group(i)) for i in range(1, 5))
    return float(m.group(1)), done, done - bad, bad


# --------------------------------------------------------------------------- variants


class Variant:
    def __init__(self, key, group, label, target, client, servers, gatehouse=None, envoy_admin=None):
        self.key, self.group, self.label = key, group, label
        self.target = target  # port the client hits
        self.client = client  # "grpc" | "http" | "wrk"
        self.servers = servers  # [(name, Popen)]
        self.gatehouse = gatehouse  # http port of the gatehouse behind it, if any
        self.envoy_admin = envoy_admin
        self.runs = []


BASELINE = {"direct": "direct_noop", "envoy": "envoy_noop", "split": "envoy_jwt_nocache",
            "users": "users_jwt_cache", "http": "http_noop", "nginx": "nginx_none"}


def measure(variant, round_no, by_key):
    def load(duration):
        if variant.client == "wrk":
            return run_client(wrk_argv(variant.target, duration), duration + 30)
        return run_client(h2load_argv(variant.target, duration, variant.client), duration + 30)

    busy_before_run = wait_quiet(ARGS.quiet_wait)
    load(ARGS.warmup)
    machine_before = busy_seconds()
    before_cpu = {name: cpu_seconds(p.pid) for name, p in variant.servers}
    metrics_before = metrics_text(variant.gatehouse) if variant.gatehouse else None
    envoy_before = envoy_stats(variant.envoy_admin, "ext_authz|jwt_authn") if variant.envoy_admin else {}
    client_before = child_cpu()
    out, wall, rc = load(ARGS.duration)
    client_cpu = child_cpu() - client_before
    after_cpu = {name: cpu_seconds(p.pid) for name, p in variant.servers}
    machine = busy_seconds() - machine_before
    rss = {name: rss_kib(p.pid) for name, p in variant.servers}
    with open(os.path.join(ARGS.work, "logs", f"load-{variant.key}-{round_no}.txt"), "w") as f:
        f.write(out)
    in_flight = (ARGS.direct_conns * ARGS.direct_streams if variant.client == "grpc"
                 else ARGS.envoy_conns * ARGS.envoy_streams)
    rps, done, ok, bad = parse_wrk(out) if variant.client == "wrk" else parse_h2load(out, in_flight)
    run = {
        "round": round_no,
        "rps": rps,
        "done": done,
        "ok": ok,
        "bad": bad,
        "cpu_us_per_req": {n: (after_cpu[n] - before_cpu[n]) * 1e6 / max(done, 1) for n in after_cpu},
        "server_util": {n: (after_cpu[n] - before_cpu[n]) / wall for n in after_cpu},
        "rss_kib": rss,
        "client_util": client_cpu / wall,
        # CPU (in cores) used by anything but the servers and the client during the run.
        "foreign_util": max(0.0, (machine - client_cpu - sum(after_cpu[n] - before_cpu[n] for n in after_cpu)) / wall),
        "busy_before": busy_before_run,
    }
    run["contended"] = run["foreign_util"] > ARGS.foreign_limit
    if variant.gatehouse:
        metrics_after = metrics_text(variant.gatehouse)
        a0, d0 = decisions(metrics_before)
        a1, d1 = decisions(metrics_after)
        run["allow"], run["deny"] = int(a1 - a0), int(d1 - d0)
        p99, p99_bucket = quantile(histogram(metrics_before), histogram(metrics_after), 0.99)
        p50, _ = quantile(histogram(metrics_before), histogram(metrics_after), 0.50)
        run["p99_us"] = p99 * 1e6 if p99 is not None else None
        run["p99_bucket_us"] = p99_bucket * 1e6 if p99_bucket is not None else None
        run["p50_us"] = p50 * 1e6 if p50 is not None else None
    if variant.envoy_admin:
        after = envoy_stats(variant.envoy_admin, "ext_authz|jwt_authn")
        run["envoy"] = {k: after[k] - envoy_before.get(k, 0) for k in after if after[k] - envoy_before.get(k, 0)}
    variant.runs.append(run)
    problems = []
    if bad:
        problems.append(f"{bad} failed/non-2xx")
    if variant.gatehouse and (run["deny"] or run["allow"] < done):
        problems.append(f"gatehouse counted allow={run['allow']} deny={run['deny']} for {done} done")
    run["problems"] = problems
    contended = f"  (contended: {run['foreign_util']:.2f} cores used by other processes)" if run["contended"] else ""
    cpu = " ".join(f"{n}={v:.1f}" for n, v in run["cpu_us_per_req"].items())
    mem = " ".join(f"{n}={v / 1024:.1f}MiB" for n, v in rss.items())
    extra = f" p99={run['p99_us']:.1f}us" if run.get("p99_us") is not None else ""
    base = by_key[BASELINE[variant.group]]
    same_round = [r for r in base.runs if r["round"] == round_no]
    ratio = f"{rps / same_round[-1]['rps']:.2f}x {base.key}" if same_round else "baseline pending"
    log(
        f"  [{round_no}] {variant.label:<44} {rps:>9.0f} req/s ({ratio})  cpu_us/req {cpu}  rss {mem}"
        f"  client {run['client_util'] * 100:.0f}%{extra}{'  !! ' + '; '.join(problems) if problems else ''}{contended}"
    )


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# --------------------------------------------------------------------------- main


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--gatehouse", required=True)
    parser.add_argument("--gatehouse-system", required=True)
    parser.add_argument("--examples", required=True)
    parser.add_argument("--envoy", required=True)
    parser.add_argument("--nginx", required=True)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument("--direct-conns", type=int, default=4)
    parser.add_argument("--direct-streams", type=int, default=32)
    parser.add_argument("--envoy-conns", type=int, default=8)
    parser.add_argument("--envoy-streams", type=int, default=16)
    parser.add_argument("--wrk-conns", type=int, default=64)
    parser.add_argument("--users", type=int, default=10000)
    parser.add_argument("--rss-tokens", type=int, default=1_000_000)
    parser.add_argument("--quiet-wait", type=float, default=20.0)
    parser.add_argument("--quiet-threshold", type=float, default=0.15)
    parser.add_argument("--quiet-budget", type=float, default=90.0)
    parser.add_argument("--retry-rounds", type=int, default=2)
    parser.add_argument("--retry-until", type=float, default=640.0,
                        help="no extra pass starts after this many seconds of the run")
    parser.add_argument("--foreign-limit", type=float, default=0.10)
    ARGS = parser.parse_args()
    work = ARGS.work
    os.makedirs(work, exist_ok=True)
    logs = os.path.join(work, "logs")
    os.makedirs(logs, exist_ok=True)
    ex = lambda name: os.path.join(ARGS.examples, name)
    started = time.time()

    # ---- keys, tokens, the framed Check
    keys = os.path.join(work, "keys")
    subprocess.run([ARGS.gatehouse, "dev", "keygen", "--alg", "RS256", "--kid", "bench-rs256", "--out-dir", keys],
                   check=True, stdout=subprocess.DEVNULL)
    jwks = json.dumps(json.load(open(os.path.join(keys, "jwks.json"))), separators=(",", ":"))
    ARGS.tokens = os.path.join(work, "tokens.txt")
    subprocess.run([ex("bench_util"), "mint", "--key", os.path.join(keys, "signing-key.json"),
                    "--count", str(ARGS.users), "--out", ARGS.tokens, "--iss", ISSUER, "--aud", AUDIENCE], check=True)
    ARGS.token = open(ARGS.tokens).readline().strip()
    ARGS.headers_file = os.path.join(work, "headers.txt")
    with open(ARGS.headers_file, "w") as f:
        f.writelines(f"{name}: {value}\n" for name, value in REALISTIC_HEADERS)
    ARGS.frame = os.path.join(work, "check.bin")
    subprocess.run([ex("bench_util"), "frame", "--token", ARGS.token, "--out", ARGS.frame,
                    "--headers-file", ARGS.headers_file], check=True)
    log(f"== {ARGS.users} RS256 tokens minted ({len(ARGS.token)} bytes each); framed Check "
        f"{os.path.getsize(ARGS.frame)} bytes")

    # ---- authz servers (all on SERVER_CPU)
    cpu = ARGS.server_cpu
    noop_port = free_port()
    noop = spawn("noop_authz", [ex("noop_authz"), f"127.0.0.1:{noop_port}"], cpu, logs)
    # A no-op that answers with gatehouse's allow shape (headers + dynamic metadata with
    # the claims): what Envoy pays for the answer itself.
    noop_full_port = free_port()
    noop_full = spawn("noop_authz_full", [ex("noop_authz"), f"127.0.0.1:{noop_full_port}", "full"], cpu, logs)
    gh = {}
    # The no-op for proxies that ask over HTTP (Envoy http_service).
    noop_http_port = free_port()
    noop_http = spawn("noop_authz_http", [ex("noop_authz"), f"127.0.0.1:{noop_http_port}", "http"], cpu, logs)
    for name, binary, cache in (("gh_hit", ARGS.gatehouse, True), ("gh_fresh", ARGS.gatehouse, False),
                                ("gh_system", ARGS.gatehouse_system, True)):
        grpc, http, http_check = free_port(), free_port(), free_port()
        path = os.path.join(work, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(gatehouse_config(grpc, http, jwks, cache, http_check))
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "GATEHOUSE_LOG", "GATEHOUSE_CONFIG")}
        proc = spawn(name, [binary, "serve", "--config", path], cpu, logs, env=env)
        gh[name] = {"proc": proc, "grpc": grpc, "http": http, "http_check": http_check}
    # The cache-hit server again, answering Check on a Unix socket (the sidecar's other transport).
    uds = os.path.join(work, "gh_hit_uds.sock")
    grpc_unused, http = free_port(), free_port()
    path = os.path.join(work, "gh_hit_uds.yaml")
    with open(path, "w") as f:
        f.write(gatehouse_config(f"unix:{uds}", http, jwks, True))
    env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "GATEHOUSE_LOG", "GATEHOUSE_CONFIG")}
    proc = spawn("gh_hit_uds", [ARGS.gatehouse, "serve", "--config", path], cpu, logs, env=env)
    gh["gh_hit_uds"] = {"proc": proc, "grpc": None, "http": http, "socket": uds}
    # The same servers on the client's core, for the split topology (Envoy alone on SERVER_CPU).
    noop_split_port = free_port()
    noop_split = spawn("noop_authz_split", [ex("noop_authz"), f"127.0.0.1:{noop_split_port}"], ARGS.client_cpu, logs)
    for name, cache in (("gh_hit_split", True), ("gh_fresh_split", False)):
        grpc, http = free_port(), free_port()
        path = os.path.join(work, f"{name}.yaml")
        with open(path, "w") as f:
            f.write(gatehouse_config(grpc, http, jwks, cache))
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "GATEHOUSE_LOG", "GATEHOUSE_CONFIG")}
        proc = spawn(name, [ARGS.gatehouse, "serve", "--config", path], ARGS.client_cpu, logs, env=env)
        gh[name] = {"proc": proc, "grpc": grpc, "http": http}
    for proc, port in ((noop, noop_port), (noop_full, noop_full_port), (noop_split, noop_split_port),
                       (noop_http, noop_http_port)):
        wait_until(proc.bench_name, lambda port=port: socket.create_connection(("127.0.0.1", port), 0.5).close() or True,
                   proc)
    for name, g in gh.items():
        wait_until(name, lambda g=g: http_get(f"http://127.0.0.1:{g['http']}/readyz")[0] == 200, g["proc"])
    time.sleep(1.0)
    idle = {name: rss_kib(g["proc"].pid) for name, g in gh.items() if not name.endswith("_split")}
    idle["noop_authz"] = rss_kib(noop.pid)
    log("== idle RSS after start: " + ", ".join(f"{k}={v / 1024:.1f} MiB" for k, v in idle.items()))

    # ---- Envoys (all on SERVER_CPU, one worker each)
    envoys = {}
    for name, auth, authz_port, template, adapt in (
            ("http_noop", "ext_authz", noop_http_port, "http-service.yaml", None),
            ("http_hit", "ext_authz", gh["gh_hit"]["http_check"], "http-service.yaml", None),
            ("http_noop_h1", "ext_authz", noop_http_port, "http-service.yaml", http1_pool),
            ("http_hit_h1", "ext_authz", gh["gh_hit"]["http_check"], "http-service.yaml", http1_pool),
            ("http_hit_all", "ext_authz", gh["gh_hit"]["http_check"], "http-service.yaml", all_headers),
            ("gh_hit_all", "ext_authz", gh["gh_hit"]["grpc"], "sidecar.yaml", all_headers)):
        admin, listen = free_port(), free_port()
        path = os.path.join(work, f"envoy-{name}.yaml")
        envoy_config(path, admin, listen, authz_port, auth, jwks, template, adapt=adapt)
        proc = spawn(f"envoy_{name}", [ARGS.envoy, "-c", path, "--concurrency", "1", "--use-dynamic-base-id",
                                       "--log-level", "warn"], cpu, logs)
        envoys[name] = {"proc": proc, "admin": admin, "listen": listen}
    for name, auth, authz_port in (("none", "none", None), ("noop", "ext_authz", noop_port),
                                   ("noop_full", "ext_authz", noop_full_port),
                                   ("gh_hit", "ext_authz", gh["gh_hit"]["grpc"]),
                                   ("gh_fresh", "ext_authz", gh["gh_fresh"]["grpc"]),
                                   ("jwt_cache", "jwt_cache", None), ("jwt_nocache", "jwt_nocache", None),
                                   ("noop_split", "ext_authz", noop_split_port),
                                   ("gh_hit_split", "ext_authz", gh["gh_hit_split"]["grpc"]),
                                   ("gh_fresh_split", "ext_authz", gh["gh_fresh_split"]["grpc"])):
        admin, listen = free_port(), free_port()
        path = os.path.join(work, f"envoy-{name}.yaml")
        envoy_config(path, admin, listen, authz_port, auth, jwks)
        proc = spawn(f"envoy_{name}", [ARGS.envoy, "-c", path, "--concurrency", "1", "--use-dynamic-base-id",
                                       "--log-level", "warn"], cpu, logs)
        envoys[name] = {"proc": proc, "admin": admin, "listen": listen}
    admin, listen = free_port(), free_port()
    path = os.path.join(work, "envoy-gh_hit_uds.yaml")
    envoy_config(path, admin, listen, None, "ext_authz", jwks,
                 extra={"gatehouse_cluster": "gatehouse_uds", "gatehouse_pipe": gh["gh_hit_uds"]["socket"]})
    proc = spawn("envoy_gh_hit_uds", [ARGS.envoy, "-c", path, "--concurrency", "1", "--use-dynamic-base-id",
                                      "--log-level", "warn"], cpu, logs)
    envoys["gh_hit_uds"] = {"proc": proc, "admin": admin, "listen": listen}
    for name, e in envoys.items():
        wait_until(f"envoy {name}", lambda e=e: http_get(f"http://127.0.0.1:{e['admin']}/ready")[1].strip() == "LIVE",
                   e["proc"], timeout=30)
    # Sanity: allowed with the token, refused without (except with no auth).
    for name, e in envoys.items():
        url = f"http://127.0.0.1:{e['listen']}/api/orders/42"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {ARGS.token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200, (name, r.status)
        if name not in ("none", "noop", "noop_full", "noop_split", "http_noop", "http_noop_h1"):  # the no-ops allow everything
            try:
                urllib.request.urlopen(url, timeout=5)
                raise SystemExit(f"envoy {name} let a request without a token through")
            except urllib.error.HTTPError as error:
                assert error.code in (401, 403), (name, error.code)
    log(f"== {len(envoys)} Envoys up (direct_response upstream, access log off); setup took {time.time() - started:.0f}s")

    # ---- nginx (SERVER_CPU, one worker): the shipped auth_request config in front of an
    # app inside the same nginx, asking gatehouse or the HTTP no-op, and the same without
    # auth_request.
    nginxes = {}
    for name, auth, authz_port in (("none", False, None), ("noop", True, noop_http_port),
                                   ("gatehouse", True, gh["gh_hit"]["http_check"])):
        listen = free_port()
        path = os.path.join(work, f"nginx-{name}.conf")
        nginx_config(path, listen, authz_port, auth)
        proc = spawn(f"nginx_{name}", [ARGS.nginx, "-p", work, "-c", path, "-e", os.path.join(logs, f"nginx-{name}-early.log"),
                                       "-g", "daemon off; user root;"], cpu, logs)
        nginxes[name] = {"proc": proc, "listen": listen}
    for name, n in nginxes.items():
        wait_until(f"nginx {name}", lambda n=n: socket.create_connection(("127.0.0.1", n["listen"]), 0.5).close() or True,
                   n["proc"])
        url = f"http://127.0.0.1:{n['listen']}/api/orders/42"
        req = urllib.request.Request(url, headers={"Authorization": f"Bearer {ARGS.token}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200, (name, r.status)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{nginxes['gatehouse']['listen']}/api/orders/42", timeout=5)
        raise SystemExit("nginx with gatehouse let a request without a token through")
    except urllib.error.HTTPError as error:
        assert error.code == 401, error.code

    # ---- the variants, in the order each round runs them
    G = lambda n: ("gatehouse", gh[n]["proc"])
    E = lambda n: ("envoy", envoys[n]["proc"])
    variants = [
        Variant("direct_noop", "direct", "direct: no-op ext_authz (tonic)", noop_port, "grpc", [("authz", noop)]),
        Variant("direct_hit", "direct", "direct: gatehouse cache hit", gh["gh_hit"]["grpc"], "grpc",
                [G("gh_hit")], gatehouse=gh["gh_hit"]["http"]),
        Variant("direct_fresh", "direct", "direct: gatehouse RS256 fresh (cache off)", gh["gh_fresh"]["grpc"], "grpc",
                [G("gh_fresh")], gatehouse=gh["gh_fresh"]["http"]),
        Variant("direct_hit_system", "direct", "direct: gatehouse cache hit, system allocator",
                gh["gh_system"]["grpc"], "grpc", [G("gh_system")], gatehouse=gh["gh_system"]["http"]),
        Variant("envoy_noop", "envoy", "envoy: ext_authz no-op", envoys["noop"]["listen"], "http",
                [E("noop"), ("authz", noop)], envoy_admin=envoys["noop"]["admin"]),
        Variant("envoy_none", "envoy", "envoy: no auth (ceiling)", envoys["none"]["listen"], "http", [E("none")],
                envoy_admin=envoys["none"]["admin"]),
        Variant("envoy_noop_full", "envoy", "envoy: ext_authz no-op, gatehouse-shaped answer",
                envoys["noop_full"]["listen"], "http", [E("noop_full"), ("authz", noop_full)],
                envoy_admin=envoys["noop_full"]["admin"]),
        Variant("envoy_hit", "envoy", "envoy: ext_authz gatehouse hit", envoys["gh_hit"]["listen"], "http",
                [E("gh_hit"), G("gh_hit")], gatehouse=gh["gh_hit"]["http"], envoy_admin=envoys["gh_hit"]["admin"]),
        Variant("envoy_hit_uds", "envoy", "envoy: ext_authz gatehouse hit over a Unix socket",
                envoys["gh_hit_uds"]["listen"], "http", [E("gh_hit_uds"), G("gh_hit_uds")],
                gatehouse=gh["gh_hit_uds"]["http"], envoy_admin=envoys["gh_hit_uds"]["admin"]),
        Variant("envoy_hit_all", "envoy", "envoy: ext_authz gatehouse hit, every header sent",
                envoys["gh_hit_all"]["listen"], "http", [E("gh_hit_all"), G("gh_hit")],
                gatehouse=gh["gh_hit"]["http"], envoy_admin=envoys["gh_hit_all"]["admin"]),
        Variant("envoy_fresh", "envoy", "envoy: ext_authz gatehouse RS256 fresh", envoys["gh_fresh"]["listen"], "http",
                [E("gh_fresh"), G("gh_fresh")], gatehouse=gh["gh_fresh"]["http"],
                envoy_admin=envoys["gh_fresh"]["admin"]),
        Variant("envoy_jwt_cache", "envoy", "envoy: jwt_authn, default cache", envoys["jwt_cache"]["listen"], "http",
                [E("jwt_cache")], envoy_admin=envoys["jwt_cache"]["admin"]),
        Variant("envoy_jwt_nocache", "envoy", "envoy: jwt_authn, no cache", envoys["jwt_nocache"]["listen"], "http",
                [E("jwt_nocache")], envoy_admin=envoys["jwt_nocache"]["admin"]),
        Variant("split_noop", "split", "split: envoy (core 1) + no-op (core 0)", envoys["noop_split"]["listen"], "http",
                [E("noop_split"), ("authz", noop_split)], envoy_admin=envoys["noop_split"]["admin"]),
        Variant("split_hit", "split", "split: envoy (core 1) + gatehouse hit (core 0)", envoys["gh_hit_split"]["listen"],
                "http", [E("gh_hit_split"), G("gh_hit_split")], gatehouse=gh["gh_hit_split"]["http"],
                envoy_admin=envoys["gh_hit_split"]["admin"]),
        Variant("split_fresh", "split", "split: envoy (core 1) + gatehouse fresh (core 0)",
                envoys["gh_fresh_split"]["listen"], "http", [E("gh_fresh_split"), G("gh_fresh_split")],
                gatehouse=gh["gh_fresh_split"]["http"], envoy_admin=envoys["gh_fresh_split"]["admin"]),
        Variant("http_noop", "http", "envoy http_service: no-op HTTP authz", envoys["http_noop"]["listen"], "http",
                [E("http_noop"), ("authz", noop_http)], envoy_admin=envoys["http_noop"]["admin"]),
        Variant("http_hit", "http", "envoy http_service: gatehouse hit", envoys["http_hit"]["listen"], "http",
                [E("http_hit"), G("gh_hit")], gatehouse=gh["gh_hit"]["http"], envoy_admin=envoys["http_hit"]["admin"]),
        Variant("http_hit_all", "http", "envoy http_service: gatehouse hit, every header sent",
                envoys["http_hit_all"]["listen"], "http", [E("http_hit_all"), G("gh_hit")],
                gatehouse=gh["gh_hit"]["http"], envoy_admin=envoys["http_hit_all"]["admin"]),
        Variant("http_noop_h1", "http", "envoy http_service over HTTP/1.1: no-op HTTP authz",
                envoys["http_noop_h1"]["listen"], "http", [E("http_noop_h1"), ("authz", noop_http)],
                envoy_admin=envoys["http_noop_h1"]["admin"]),
        Variant("http_hit_h1", "http", "envoy http_service over HTTP/1.1: gatehouse hit", envoys["http_hit_h1"]["listen"],
                "http", [E("http_hit_h1"), G("gh_hit")], gatehouse=gh["gh_hit"]["http"],
                envoy_admin=envoys["http_hit_h1"]["admin"]),
        Variant("nginx_none", "nginx", "nginx: no auth (ceiling)", nginxes["none"]["listen"], "wrk",
                [("nginx", nginxes["none"]["proc"])]),
        Variant("nginx_noop", "nginx", "nginx auth_request: no-op HTTP authz", nginxes["noop"]["listen"], "wrk",
                [("nginx", nginxes["noop"]["proc"]), ("authz", noop_http)]),
        Variant("nginx_gatehouse", "nginx", f"nginx auth_request: gatehouse hit ({ARGS.users // 1000}k users)",
                nginxes["gatehouse"]["listen"], "wrk", [("nginx", nginxes["gatehouse"]["proc"]), G("gh_hit")],
                gatehouse=gh["gh_hit"]["http"]),
        Variant("users_jwt_cache", "users", f"{ARGS.users // 1000}k users: envoy jwt_authn default cache",
                envoys["jwt_cache"]["listen"], "wrk", [E("jwt_cache")], envoy_admin=envoys["jwt_cache"]["admin"]),
        Variant("users_noop", "users", f"{ARGS.users // 1000}k users: envoy + no-op ext_authz",
                envoys["noop"]["listen"], "wrk", [E("noop"), ("authz", noop)], envoy_admin=envoys["noop"]["admin"]),
        Variant("users_gatehouse", "users", f"{ARGS.users // 1000}k users: envoy + gatehouse (cache)",
                envoys["gh_hit"]["listen"], "wrk", [E("gh_hit"), G("gh_hit")], gatehouse=gh["gh_hit"]["http"],
                envoy_admin=envoys["gh_hit"]["admin"]),
    ]
    by_key = {v.key: v for v in variants}
    # Every user has logged in once before we measure: prime gatehouse's cache with all the tokens.
    prime = max(3, min(15, ARGS.users // 2500))
    for key in ("users_gatehouse", "users_jwt_cache"):
        run_client(wrk_argv(by_key[key].target, prime), prime + 30)
    log(f"== primed the {ARGS.users} users' tokens ({prime} s of wrk per variant)")
    for round_no in range(1, ARGS.rounds + 1):
        log(f"== round {round_no}/{ARGS.rounds}")
        for variant in variants:
            measure(variant, round_no, by_key)

    # Variants with contended runs (another process took CPU meanwhile) get more
    # interleaved passes while the time budget lasts.
    for extra in range(1, ARGS.retry_rounds + 1):
        short = [v for v in variants if sum(not r["contended"] for r in v.runs) < min(2, ARGS.rounds)]
        if not short or time.time() - started > ARGS.retry_until:
            break
        log(f"== extra pass {extra}: {len(short)} variant(s) with fewer than 2 undisturbed runs")
        for variant in short:
            if time.time() - started > ARGS.retry_until:
                break
            measure(variant, ARGS.rounds + extra, by_key)

    # ---- memory with many cached tokens (in process, one core)
    rss_runs = []
    # 1. N tokens, shipped cache settings; 2. N tokens, all kept (entry bound only); 3. 100k
    # tokens with `dynamic_metadata.all_claims` (entries also hold the rendered claims).
    for count, max_entries, all_claims in ((ARGS.rss_tokens, None, False),
                                           (ARGS.rss_tokens, ARGS.rss_tokens, False),
                                           (min(100_000, ARGS.rss_tokens), None, True)):
        argv = ["taskset", "-c", str(ARGS.server_cpu), ex("rss_tokens"), str(count)]
        if max_entries:
            argv.append(str(max_entries))
        env = dict(os.environ, RSS_TOKENS_ALL_CLAIMS="1") if all_claims else dict(os.environ)
        out = subprocess.run(argv, check=True, capture_output=True, text=True, timeout=600, env=env).stdout.strip()
        log(f"== rss_tokens {' '.join(argv[4:])}: {out}")
        # `key=value` pairs; the last, `cache=`, is YAML with spaces (to the end of the line).
        rss_runs.append(dict(re.findall(r"(\w+)=(.*?)(?=\s+\w+=|$)", out)))

    envoy_version = subprocess.run([ARGS.envoy, "--version"], capture_output=True, text=True).stdout.strip()
    stop_all()

    # ---- summary
    summary = {}
    for v in variants:
        v.all_runs = list(v.runs)
        clean = [r for r in v.runs if not r["contended"]]
        contended_runs = len(v.runs) - len(clean)
        if clean:
            v.runs = clean  # medians over the runs nothing else disturbed
        total_cpu = [sum(r["cpu_us_per_req"].values()) for r in v.runs]
        summary[v.key] = {
            "label": v.label,
            "rps": median([r["rps"] for r in v.runs]),
            "rps_runs": [round(r["rps"]) for r in v.runs],
            "cpu_us_per_req": {n: median([r["cpu_us_per_req"][n] for r in v.runs]) for n in v.runs[0]["cpu_us_per_req"]},
            "cpu_us_per_req_total": median(total_cpu),
            "server_util": {n: median([r["server_util"][n] for r in v.runs]) for n in v.runs[0]["server_util"]},
            "rss_mib": {n: v.runs[-1]["rss_kib"][n] / 1024 for n in v.runs[-1]["rss_kib"]},
            "client_util": median([r["client_util"] for r in v.runs]),
            "p99_us": median([r.get("p99_us") for r in v.runs]),
            "p99_bucket_us": median([r.get("p99_bucket_us") for r in v.runs]),
            "p50_us": median([r.get("p50_us") for r in v.runs]),
            "problems": sorted({p for r in v.runs for p in r["problems"]}
                               | ({f"{contended_runs} contended run(s) " + ("left out" if clean else "kept: no clean run")}
                                  if contended_runs else set())),
            "foreign_util": median([r["foreign_util"] for r in v.runs]),
            "envoy_last": v.runs[-1].get("envoy"),
            "decisions_last": (v.runs[-1].get("allow"), v.runs[-1].get("deny")) if v.gatehouse else None,
        }
    base = {"direct": summary["direct_noop"]["rps"], "envoy": summary["envoy_noop"]["rps"],
            "split": summary["envoy_jwt_nocache"]["rps"], "users": summary["users_jwt_cache"]["rps"],
            "http": summary["http_noop"]["rps"], "nginx": summary["nginx_none"]["rps"]}
    base_name = {"direct": "no-op direct", "envoy": "Envoy+no-op", "split": "jwt_authn no cache",
                 "users": "jwt_authn default cache", "http": "Envoy+no-op HTTP", "nginx": "nginx without auth"}

    lines = []
    lines.append("| variant | req/s (median) | runs | ratio | server CPU µs/req | capacity from CPU | server RSS after (MiB) "
                 "| client CPU | other CPU | server p99 |")
    lines.append("|---|---:|---|---|---|---:|---|---:|---:|---:|")
    for v in variants:
        s = summary[v.key]
        ratio = s["rps"] / base[v.group]
        ratio_text = f"{ratio:.2f}× {base_name[v.group]}"
        if v.group == "envoy":
            ratio_text += f", {s['rps'] / summary['envoy_none']['rps']:.2f}× no auth"
        if v.group == "split":
            ratio_text += f", {s['rps'] / summary['split_noop']['rps']:.2f}× split no-op"
        if v.group == "http" or v.key in ("envoy_hit_uds", "envoy_hit_all"):
            ratio_text += f", {s['rps'] / summary['envoy_hit']['rps']:.2f}× gRPC mode"
        if v.key == "users_gatehouse":
            ratio_text += f", {s['rps'] / summary['users_noop']['rps']:.2f}× Envoy + no-op"
        if v.key == "nginx_gatehouse":
            ratio_text += f", {s['rps'] / summary['nginx_noop']['rps']:.2f}× nginx + no-op"
        cpu = " + ".join(f"{n} {x:.1f}" for n, x in s["cpu_us_per_req"].items())
        if len(s["cpu_us_per_req"]) > 1:
            cpu += f" = {s['cpu_us_per_req_total']:.1f}"
        rss = ", ".join(f"{n} {x:.1f}" for n, x in s["rss_mib"].items())
        p99 = f"{s['p99_us']:.1f} µs (≤{s['p99_bucket_us']:.0f})" if s["p99_us"] is not None else "–"
        flag = " ⚠ " + "; ".join(s["problems"]) if s["problems"] else ""
        # What one core could serve at this CPU cost: all server processes share SERVER_CPU,
        # except in the split topology, where the busier of the two cores bounds it.
        per_core = max(s["cpu_us_per_req"].values()) if v.group == "split" else s["cpu_us_per_req_total"]
        s["capacity"] = 1e6 / per_core if per_core else None
        lines.append(f"| {s['label']}{flag} | {s['rps']:.0f} | {', '.join(map(str, s['rps_runs']))} | {ratio_text} | "
                     f"{cpu} | {s['capacity']:.0f} | {rss} | {s['client_util'] * 100:.0f}% | "
                     f"{s['foreign_util']:.2f} | {p99} |")
    table = "\n".join(lines)

    r1m = rss_runs[0]
    r1m_full = rss_runs[1]
    cpu_of = lambda key, name: summary[key]["cpu_us_per_req"].get(name)
    # The sidecar's ways of asking gatehouse, by what each costs Envoy per request.
    modes = ["envoy_hit_all", "envoy_hit", "envoy_hit_uds", "http_hit_all", "http_hit", "http_hit_h1"]
    # The reference: gRPC ext_authz over loopback TCP sending every header (ext_authz's default).
    grpc_envoy = cpu_of("envoy_hit_all", "envoy")
    best = min(modes, key=lambda key: cpu_of(key, "envoy"))
    mlines = ["| mode | req/s | Envoy CPU µs/req | × gRPC, every header | ext_authz server CPU µs/req |",
              "|---|---:|---:|---:|---:|"]
    for key in ["envoy_none", "envoy_noop", *modes, "http_noop", "http_noop_h1"]:
        server = cpu_of(key, "gatehouse") or cpu_of(key, "authz")
        mlines.append(f"| {summary[key]['label']} | {summary[key]['rps']:.0f} | {cpu_of(key, 'envoy'):.1f} | "
                      f"{cpu_of(key, 'envoy') / grpc_envoy:.2f} | {f'{server:.1f}' if server else '–'} |")
    direct = {k: summary[k] for k in ("direct_noop", "direct_hit", "direct_fresh")}
    hit_cpu = direct["direct_hit"]["cpu_us_per_req_total"] / direct["direct_noop"]["cpu_us_per_req_total"]
    users_ratio = summary["users_gatehouse"]["rps"] / summary["users_noop"]["rps"]
    targets = [
        (f"{ARGS.users // 1000}k users through Envoy, gatehouse vs no-op (gRPC)", "≥ 0.95×", f"{users_ratio:.2f}×",
         users_ratio >= 0.95),
        ("Envoy CPU per request, shipped sidecar mode (gRPC over a Unix socket, allowed_headers) vs gRPC "
         "ext_authz over TCP with every header", "≤ 0.8×",
         f"{cpu_of('envoy_hit_uds', 'envoy') / grpc_envoy:.2f}× (cheapest: {summary[best]['label']}, "
         f"{cpu_of(best, 'envoy') / grpc_envoy:.2f}×)",
         cpu_of("envoy_hit_uds", "envoy") <= 0.8 * grpc_envoy),
        ("CPU per cache-hit Check, gatehouse vs no-op tonic (direct)", "≤ 1.2×", f"{hit_cpu:.2f}×", hit_cpu <= 1.2),
        ("direct cache hit, one core", "≥ 50,000 req/s or ≥ 0.8× no-op",
         f"{direct['direct_hit']['rps']:.0f} req/s ({direct['direct_hit']['rps'] / direct['direct_noop']['rps']:.2f}×)",
         direct["direct_hit"]["rps"] >= min(50000, 0.8 * direct["direct_noop"]["rps"])),
        ("direct fresh RS256, one core", "≥ 22,000 req/s or ≥ 0.35× no-op",
         f"{direct['direct_fresh']['rps']:.0f} req/s "
         f"({direct['direct_fresh']['rps'] / direct['direct_noop']['rps']:.2f}×)",
         direct["direct_fresh"]["rps"] >= min(22000, 0.35 * direct["direct_noop"]["rps"])),
        ("RSS per cached token (default metadata)", "≤ 1,000 B", f"{r1m_full['bytes_per_entry']} B",
         int(r1m_full["bytes_per_entry"]) <= 1000),
        (f"{ARGS.rss_tokens:,} distinct tokens, all cached", "≤ 1.2 GB" if ARGS.rss_tokens >= 1_000_000 else "–",
         f"{int(r1m_full['rss_after_kib']) / 1024:.0f} MiB ({r1m_full['cache_entries']} entries)",
         int(r1m_full["rss_after_kib"]) * 1024 <= 1.2e9),
        ("idle RSS after start", "≤ 20 MB", f"{idle['gh_hit'] / 1024:.1f} MiB", idle["gh_hit"] * 1024 <= 20e6),
        (f"{ARGS.rss_tokens:,} distinct tokens (default cache)", "≤ 400 MB",
         f"{int(r1m['rss_after_kib']) / 1024:.0f} MiB ({r1m['cache_entries']} entries kept)",
         int(r1m["rss_after_kib"]) * 1024 <= 400e6),
    ]
    tlines = ["| target | wanted | measured | met |", "|---|---|---|---|"]
    for name, wanted, got, ok in targets:
        tlines.append(f"| {name} | {wanted} | {got} | {'yes' if ok else '**no**'} |")
    system = summary["direct_hit_system"]
    hit = summary["direct_hit"]
    alloc = (f"allocator (direct cache hit): mimalloc (shipped) {hit['rps']:.0f} req/s, "
             f"{hit['cpu_us_per_req_total']:.1f} µs/req, idle RSS {idle['gh_hit'] / 1024:.1f} MiB, "
             f"RSS after {hit['rss_mib']['gatehouse']:.1f} MiB; system {system['rps']:.0f} req/s "
             f"({system['rps'] / hit['rps']:.2f}×), {system['cpu_us_per_req_total']:.1f} µs/req, "
             f"idle RSS {idle['gh_system'] / 1024:.1f} MiB, RSS after {system['rss_mib']['gatehouse']:.1f} MiB")
    envoy_lines = []
    for key in ("envoy_hit", "envoy_fresh", "envoy_noop", "envoy_jwt_cache", "envoy_jwt_nocache", "split_noop",
                "split_hit", "split_fresh", "users_noop", "users_gatehouse", "users_jwt_cache", "http_noop", "http_hit",
                "nginx_gatehouse"):
        stats = summary[key]["envoy_last"] or {}
        shown = {k.replace("http.ingress.", ""): v for k, v in stats.items()}
        envoy_lines.append(f"- {summary[key]['label']} (last run): {json.dumps(shown)}")
        if summary[key]["decisions_last"]:
            allow, deny = summary[key]["decisions_last"]
            envoy_lines[-1] += f"; gatehouse allow={allow} deny={deny}"

    report = "\n".join([
        f"## Results ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {ARGS.rounds} interleaved rounds of "
        f"{ARGS.duration} s + {ARGS.warmup} s warm-up)",
        "",
        table,
        "",
        "### Sidecar modes (Envoy's cost per request, the realistic request)",
        "",
        "\n".join(mlines),
        "",
        "### Targets",
        "",
        "\n".join(tlines),
        "",
        "### Allocator",
        "",
        alloc,
        "",
        "### Outcomes counted by the servers",
        "",
        "\n".join(envoy_lines),
        "",
        "### Memory",
        "",
        f"- idle RSS: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in idle.items()),
        *[f"- rss_tokens: {json.dumps(r)}" for r in rss_runs],
        "",
        f"Envoy: {envoy_version}",
        f"Total bench time: {time.time() - started:.0f} s (of which {QUIET_SPENT:.0f} s waiting for other processes to go quiet)",
    ])
    print()
    print(report)
    with open(os.path.join(work, "results.md"), "w") as f:
        f.write(report + "\n")
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump({"summary": summary, "idle_rss_kib": idle, "rss_tokens": rss_runs,
                   "runs": {v.key: v.all_runs for v in variants}}, f, indent=1)
    failed = [v.label for v in variants if any(r["problems"] for r in v.all_runs)]
    if failed:
        print(f"\nWARNING: runs with failed requests or denies: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    def on_signal(signum, _frame):
        stop_all()
        sys.exit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        sys.exit(main())
    finally:
        stop_all()
