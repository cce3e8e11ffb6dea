#!/usr/bin/env python3
"""The soak behind docs/PERFORMANCE.md; run through loadtest/soak.sh.

gatehouse behind Envoy 1.40 (deploy/envoy/sidecar.yaml over TCP) for
--duration seconds under steady wrk load (the realistic request of load.py,
1,000 users' tokens per signing key), while at the same time:

- the identity provider rotates its signing key every --rotate seconds: the
  JWKS (served here) publishes the previous, the current and the next key,
  and the load switches to tokens of the new current key;
- the config file is rewritten every --reload seconds (gatehouse reloads it);
- a revocation arrives every --revoke seconds through the admin API (Redis,
  Debian's redis-server, carries it).

A checker asks once a second, through Envoy, what must be true: a current
token is allowed and the upstream sees its subject; no token, a token of a
retired key (once gatehouse's refresh has seen the rotation) and a revoked
token are refused. Every second the script samples gatehouse's and Envoy's
RSS, open file descriptors and threads.

Passes (exit 0) when the load saw no error, the checker no wrong answer, every
reload and revocation succeeded, and after the first --warmup seconds the open
fds and threads stayed within a small band and RSS grew less than 10%.
"""

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import load  # the load script's process helpers, realistic headers and Envoy config

ISSUER = load.ISSUER
AUDIENCE = load.AUDIENCE
ADMIN_TOKEN = "soak-admin-token-0123456789"


class Jwks:
    """The identity provider's key set, swapped at each rotation."""

    def __init__(self):
        self.body = b'{"keys":[]}'

    def publish(self, keys):
        self.body = json.dumps({"keys": keys}).encode()

    def serve(self):
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body = jwks.body
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server.server_address[1]


class Key:
    """One signing key and 1,000 users' tokens signed with it."""

    def __init__(self, work, index, gatehouse, examples):
        self.kid = f"soak-{index}"
        self.dir = os.path.join(work, "keys", self.kid)
        subprocess.run([gatehouse, "dev", "keygen", "--alg", "RS256", "--kid", self.kid, "--out-dir", self.dir],
                       check=True, stdout=subprocess.DEVNULL)
        self.signing = os.path.join(self.dir, "signing-key.json")
        self.public = json.load(open(os.path.join(self.dir, "jwks.json")))["keys"][0]
        self.tokens_file = os.path.join(self.dir, "tokens.txt")
        subprocess.run([os.path.join(examples, "bench_util"), "mint", "--key", self.signing, "--count", "1000",
                        "--out", self.tokens_file, "--iss", ISSUER, "--aud", AUDIENCE], check=True)
        self.tokens = [line.strip() for line in open(self.tokens_file) if line.strip()]


def subject(token):
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"]


def gatehouse_config(ports, redis_port, jwks_port, admin_token_file, generation):
    # `generation` changes a rule's name: every rewrite is a real change to reload.
    return f"""server: {{ grpc_addr: "127.0.0.1:{ports['grpc']}", http_addr: "127.0.0.1:{ports['http']}" }}
providers:
  - name: soak
    issuer: {ISSUER}
    audiences: [{AUDIENCE}]
    algorithms: [RS256]
    max_lifetime: 3h
    jwks: {{ uri: "http://127.0.0.1:{jwks_port}/jwks.json", refresh_interval: 5s, min_refresh_interval: 1s }}
    claims_to_headers:
      - {{ claim: sub, header: x-user-id }}
rules:
  - name: api-{generation}
    match: {{ path_prefix: / }}
    require: {{ providers: [soak] }}
revocation:
  redis: {{ url: "redis://127.0.0.1:{redis_port}/0" }}
  admin: {{ addr: "127.0.0.1:{ports['admin']}", token: {{ file: "{admin_token_file}" }} }}
"""


class Soak:
    def __init__(self, args):
        self.args = args
        self.started = time.time()
        self.lock = threading.Lock()
        self.wrong = []  # (second, what)
        self.checks = 0
        self.load_runs = []  # (requests, bad)
        self.reloads = {"written": 0}
        self.revocations = {"done": 0, "failed": 0}
        self.samples = []  # (second, {name: (rss_kib, fds, threads)})
        self.stop = threading.Event()
        self.epoch = 0
        self.rotated_at = time.time()

    def elapsed(self):
        return time.time() - self.started

    def wrong_answer(self, what):
        with self.lock:
            self.wrong.append((round(self.elapsed(), 1), what))
        load.log(f"  !! {self.elapsed():6.1f}s wrong answer: {what}")

    # ------------------------------------------------------------------ requests through Envoy
    def get(self, path, token=None, forged_user=None):
        headers = dict(load.REALISTIC_HEADERS)
        headers.pop("accept-encoding", None)
        if token:
            headers["authorization"] = f"Bearer {token}"
        if forged_user:
            headers["x-user-id"] = forged_user
        request = urllib.request.Request(f"http://127.0.0.1:{self.envoy_listen}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError as error:
            return None, str(error).encode()

    def expect_allowed(self, token, what):
        status, body = self.get("/echo/check", token, forged_user="mallory")
        if status != 200:
            return self.wrong_answer(f"{what}: {status} instead of 200 ({body[:120]!r})")
        seen = json.loads(body).get("headers", {}).get("x-user-id")
        if seen != [subject(token)] and seen != subject(token):
            self.wrong_answer(f"{what}: upstream saw x-user-id {seen!r}, not {subject(token)!r}")

    def expect_refused(self, token, what):
        status, body = self.get("/echo/check", token)
        if status != 401:
            self.wrong_answer(f"{what}: {status} instead of 401 ({body[:120]!r})")

    # ------------------------------------------------------------------ the activities
    def run_load(self):
        """wrk, one run per key epoch, with that epoch's tokens."""
        while not self.stop.is_set():
            self.rotate()
            remaining = self.args.duration - self.elapsed()
            if remaining < 1:
                break
            seconds = int(min(self.args.rotate, remaining))
            argv = ["wrk", "-t", "1", "-c", str(self.args.connections), "-d", f"{seconds}s", "--timeout", "5s",
                    "-s", os.path.join(self.args.root, "loadtest", "tokens.lua"),
                    f"http://127.0.0.1:{self.envoy_listen}/api/orders/42"]
            env = dict(os.environ, TOKENS_FILE=self.keys[self.epoch].tokens_file, HEADERS_FILE=self.headers_file)
            out = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=seconds + 30).stdout
            rps, done, _ok, bad = load.parse_wrk(out)
            self.load_runs.append((done, bad))
            load.log(f"  {self.elapsed():6.1f}s load with key {self.keys[self.epoch].kid}: {done} requests "
                     f"({rps:.0f} req/s), {bad} failed")
            if bad:
                self.wrong_answer(f"{bad} failed requests under load with key {self.keys[self.epoch].kid}")

    def rotate(self):
        """Key `epoch` becomes current: the JWKS holds the one before, it and the next."""
        if self.elapsed() > 1:
            self.epoch += 1
        n = self.epoch
        published = [self.keys[i].public for i in (n - 1, n, n + 1) if 0 <= i < len(self.keys)]
        self.jwks.publish(published)
        self.rotated_at = time.time()

    def run_checker(self):
        while not self.stop.wait(1.0):
            n = self.epoch
            current = self.keys[n].tokens
            self.expect_allowed(current[int(self.elapsed()) % len(current)], f"key {self.keys[n].kid} token")
            self.expect_refused(None, "no token")
            self.expect_refused("e30.e30.c2ln", "garbage token")
            # A key two rotations old is no longer published: once gatehouse's 5 s refresh
            # (±10%) has seen it go, its tokens — cached ones included — are refused.
            if n >= 2 and time.time() - self.rotated_at > 7:
                self.expect_refused(self.keys[n - 2].tokens[0], f"retired key {self.keys[n - 2].kid} token")
            with self.lock:
                self.checks += 1

    def run_reloads(self):
        generation = 0
        while not self.stop.wait(self.args.reload):
            generation += 1
            self.write_config(generation)
            self.reloads["written"] += 1

    def run_revocations(self):
        index = 0
        while not self.stop.wait(self.args.revoke):
            index += 1
            key = self.keys[self.epoch]
            token = subprocess.run(
                [self.args.gatehouse, "dev", "mint", "--key", key.signing, "--iss", ISSUER, "--aud", AUDIENCE,
                 "--sub", f"revoked-{index}", "--claim", f"jti=soak-revoked-{index}", "--ttl", "1h"],
                check=True, capture_output=True, text=True).stdout.strip()
            self.expect_allowed(token, f"revocation #{index} before it")
            body = json.dumps({"issuer": ISSUER, "jti": f"soak-revoked-{index}"}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{self.ports['admin']}/v1/revocations", data=body,
                                             headers={"authorization": f"Bearer {ADMIN_TOKEN}",
                                                      "content-type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except OSError:
                status = None
            if status != 201:
                self.revocations["failed"] += 1
                self.wrong_answer(f"revocation #{index}: admin API answered {status}")
                continue
            self.revocations["done"] += 1
            self.expect_refused(token, f"revocation #{index} after it")

    def run_sampler(self):
        while not self.stop.wait(1.0):
            sample = {}
            for name, proc in (("gatehouse", self.gatehouse), ("envoy", self.envoy)):
                pid = proc.pid
                try:
                    with open(f"/proc/{pid}/status") as f:
                        status = dict(line.split(":", 1) for line in f if ":" in line)
                    fds = len(os.listdir(f"/proc/{pid}/fd"))
                except OSError:
                    self.wrong_answer(f"{name} is gone")
                    continue
                sample[name] = (int(status["VmRSS"].split()[0]), fds, int(status["Threads"]))
            self.samples.append((self.elapsed(), sample))

    def write_config(self, generation):
        text = gatehouse_config(self.ports, self.redis_port, self.jwks_port, self.admin_token_file, generation)
        path = self.config_path + ".tmp"
        with open(path, "w") as f:
            f.write(text)
        os.replace(path, self.config_path)  # one atomic change, as a ConfigMap update is

    # ------------------------------------------------------------------ setup and report
    def setup(self):
        args, work = self.args, self.args.work
        logs = os.path.join(work, "logs")
        os.makedirs(logs, exist_ok=True)
        rotations = int(args.duration // args.rotate) + 3
        load.log(f"== minting {rotations} keys' tokens")
        self.keys = [Key(work, i, args.gatehouse, args.examples) for i in range(rotations)]
        self.headers_file = os.path.join(work, "headers.txt")
        with open(self.headers_file, "w") as f:
            f.writelines(f"{name}: {value}\n" for name, value in load.REALISTIC_HEADERS)
        self.jwks = Jwks()
        self.jwks.publish([k.public for k in self.keys[:2]])
        self.jwks_port = self.jwks.serve()

        self.redis_port = load.free_port()
        redis = load.spawn("redis", [args.redis, "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                     "--save", "", "--appendonly", "no"], "0-1", logs)
        load.wait_until("redis", lambda: load.socket.create_connection(("127.0.0.1", self.redis_port), 0.5).close()
                        or True, redis)
        self.admin_token_file = os.path.join(work, "admin-token")
        with open(self.admin_token_file, "w") as f:
            f.write(ADMIN_TOKEN)
        self.ports = {name: load.free_port() for name in ("grpc", "http", "admin")}
        self.config_path = os.path.join(work, "gatehouse.yaml")
        self.write_config(0)
        env = {k: v for k, v in os.environ.items() if k not in ("RUST_LOG", "GATEHOUSE_LOG", "GATEHOUSE_CONFIG")}
        self.gatehouse = load.spawn("gatehouse", [args.gatehouse, "serve", "--config", self.config_path], "0-1", logs,
                                    env=env)
        load.wait_until("gatehouse", lambda: load.http_get(f"http://127.0.0.1:{self.ports['http']}/readyz")[0] == 200,
                        self.gatehouse)

        echo_port = load.free_port()
        echo = load.spawn("echo", [args.gatehouse, "dev", "echo", "--addr", f"127.0.0.1:{echo_port}"], "0-1", logs)
        load.wait_until("echo", lambda: load.socket.create_connection(("127.0.0.1", echo_port), 0.5).close() or True,
                        echo)
        admin = load.free_port()
        self.envoy_listen = load.free_port()
        path = os.path.join(work, "envoy.yaml")

        def echo_route(config):
            hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
            for vhost in hcm["route_config"]["virtual_hosts"]:
                vhost["routes"].insert(0, {"match": {"prefix": "/echo/"}, "route": {"cluster": "app"}})

        load.envoy_config(path, admin, self.envoy_listen, self.ports["grpc"], "ext_authz", None,
                          extra={"upstream_port": echo_port}, adapt=echo_route)
        self.envoy = load.spawn("envoy", [args.envoy, "-c", path, "--concurrency", "1", "--use-dynamic-base-id",
                                          "--log-level", "warn"], "0-1", logs)
        load.wait_until("envoy", lambda: load.http_get(f"http://127.0.0.1:{admin}/ready")[1].strip() == "LIVE",
                        self.envoy, timeout=30)

    def metric(self, name, labels=""):
        total = 0.0
        for line in load.metrics_text(self.ports["http"]).splitlines():
            if line.startswith(name) and labels in line and not line.startswith("#"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def run(self):
        self.setup()
        self.started = time.time()
        load.log(f"== soak: {self.args.duration} s; key rotation every {self.args.rotate} s, config reload every "
                 f"{self.args.reload} s, a revocation every {self.args.revoke} s")
        threads = [threading.Thread(target=t, daemon=True) for t in
                   (self.run_checker, self.run_reloads, self.run_revocations, self.run_sampler)]
        for t in threads:
            t.start()
        self.run_load()
        self.stop.set()
        for t in threads:
            t.join(timeout=30)
        return self.report()

    def report(self):
        reloads_ok = self.metric("gatehouse_config_reload_total", 'outcome="success"')
        reloads_bad = self.metric("gatehouse_config_reload_total", 'outcome="invalid"') + \
            self.metric("gatehouse_config_reload_total", 'outcome="failed"')
        requests = sum(done for done, _ in self.load_runs)
        failed = sum(bad for _, bad in self.load_runs)
        warm = [s for t, s in self.samples if t >= self.args.warmup]
        lines = [f"## Soak ({time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {self.args.duration} s)", "",
                 f"- load: {requests} requests through Envoy ({requests / max(self.elapsed(), 1):.0f} req/s), "
                 f"{failed} failed",
                 f"- checker: {self.checks} rounds, {len(self.wrong)} wrong answers",
                 f"- key rotations: {self.epoch}; config rewrites: {self.reloads['written']}, reloads counted by "
                 f"gatehouse: {reloads_ok:.0f} successful, {reloads_bad:.0f} refused or failed",
                 f"- revocations: {self.revocations['done']} applied, {self.revocations['failed']} failed", ""]
        verdicts = []
        lines.append("| process | after warm-up: RSS MiB first → last minute (min–max) | open fds first → last (min–max) "
                     "| threads first → last (min–max) |")
        lines.append("|---|---|---|---|")
        for name in ("gatehouse", "envoy"):
            series = [s[name] for s in warm if name in s]
            if not series:
                verdicts.append(f"no samples of {name}")
                continue
            rss = [r for r, _, _ in series]
            fds = [f for _, f, _ in series]
            threads = [t for _, _, t in series]
            minute = max(1, min(60, len(rss) // 4))
            early, late = statistics.median(rss[:minute]), statistics.median(rss[-minute:])
            lines.append(f"| {name} | {early / 1024:.1f} → {late / 1024:.1f} ({min(rss) / 1024:.1f}–{max(rss) / 1024:.1f}) "
                         f"| {statistics.median(fds[:minute]):.0f} → {statistics.median(fds[-minute:]):.0f} "
                         f"({min(fds)}–{max(fds)}) | {statistics.median(threads[:minute]):.0f} → "
                         f"{statistics.median(threads[-minute:]):.0f} ({min(threads)}–{max(threads)}) |")
            if late > early * 1.10:
                verdicts.append(f"{name} RSS grew {late / early:.2f}× after warm-up")
            # A leak is a trend: the last minute against the first after warm-up (the load
            # generator's reconnects between key epochs make Envoy's count dip for a moment).
            fds_early, fds_late = statistics.median(fds[:minute]), statistics.median(fds[-minute:])
            if fds_late > fds_early + 4:
                verdicts.append(f"{name} open fds grew from {fds_early:.0f} to {fds_late:.0f}")
            threads_early, threads_late = statistics.median(threads[:minute]), statistics.median(threads[-minute:])
            if threads_late > threads_early + 2:
                verdicts.append(f"{name} threads grew from {threads_early:.0f} to {threads_late:.0f}")
        if failed or self.wrong:
            verdicts.append(f"{failed} failed requests, {len(self.wrong)} wrong answers: {self.wrong[:5]}")
        if self.revocations["failed"] or reloads_bad or reloads_ok < self.reloads["written"]:
            verdicts.append("a reload or revocation did not take")
        lines += ["", "verdict: " + ("pass" if not verdicts else "FAIL: " + "; ".join(verdicts))]
        report = "\n".join(lines)
        load.log("\n" + report)
        with open(os.path.join(self.args.work, "soak.md"), "w") as f:
            f.write(report + "\n")
        with open(os.path.join(self.args.work, "samples.json"), "w") as f:
            json.dump(self.samples, f)
        return 0 if not verdicts else 1


def main():
    parser = argparse.ArgumentParser()
    for name in ("root", "work", "gatehouse", "examples", "envoy", "redis"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--duration", type=int, default=600)
    parser.add_argument("--rotate", type=int, default=30)
    parser.add_argument("--reload", type=int, default=20)
    parser.add_argument("--revoke", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    os.makedirs(args.work, exist_ok=True)
    # The load script's helpers read their settings from its ARGS.
    load.ARGS = argparse.Namespace(examples=args.examples, root=args.root)
    try:
        return Soak(args).run()
    finally:
        load.stop_all()


if __name__ == "__main__":
    sys.exit(main())
