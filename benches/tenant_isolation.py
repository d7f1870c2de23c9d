#!/usr/bin/env python3
"""Does one tenant hammering at its limits slow another tenant? (issue 17)

Starts `foresight serve` on 127.0.0.1 (an OS-chosen port, a fresh data directory) with tokens of
two tenants, "a" and "b", and limits on "a" only (`foresight tokens limits`). Tenant b runs a
steady, light load in every phase: --b-writers threads each writing a 100-line batch every 100 ms,
and one thread running `sum(rate(m_v[1m]))` every 100 ms. Its latencies are recorded per phase:

  1. baseline:   b alone;
  2. a limited:  a hammers with --a-writers writer threads (5,000-line batches, no pause) and
                 --a-queriers query threads (a heavy query over all its series, no pause), at
                 its limits (samples/s, concurrent queries, series, and with --a-query-seconds
                 its query time): most of a's requests get 429;
  3. a unlimited (--unlimited-phase): the same hammering with a's limits removed, to show what
                 the limits buy.

Each phase lasts --phase seconds. Printed: per phase, b's write and query p50/p99 (ms) and
counts, a's answers by status, and the server's CPU seconds. By default a's clients retry at once
on 429 (the worst case); --a-backoff makes them honour Retry-After as Prometheus and Telegraf do.
The load generator runs on the same machine (a's clients in a process of their own, so they
never hold the interpreter lock b's clients need): its CPU use is part of what b feels. Loopback only; every loop is bounded by the phase's end.

    cargo build -p foresight                       # the dev profile is optimised
    python3 benches/tenant_isolation.py --phase 20
    python3 benches/tenant_isolation.py --bin target/release/foresight --phase 30 --unlimited-phase
"""
import argparse
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tokens(binary, data_dir, *args):
    out = subprocess.run([binary, "--data-dir", data_dir, "tokens", *args], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


class Client:
    """One keep-alive connection of a tenant (one per thread): its write token on POST, its read
    token on GET."""

    def __init__(self, port, tok, tenant):
        self.port, self.c, self.retry_after = port, None, None
        self.write, self.read = tok[tenant + "w"], tok[tenant + "r"]

    def request(self, method, path, body=None):
        token = self.write if method == "POST" else self.read
        for attempt in range(2):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                self.c.request(method, path, body=body, headers={"Authorization": f"Bearer {token}"})
                r = self.c.getresponse()
                r.read()
                self.retry_after = r.getheader("Retry-After")
                return r.status
            except (ConnectionError, http.client.HTTPException, OSError):
                self.c = None
                if attempt == 1:
                    return 0
        return 0


def server_cpu(pid):
    """CPU seconds (user + system) the server process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def run_phase(port, tok, seconds, args, hammer):
    stop = time.monotonic() + seconds
    lat = {"b_write": [], "b_query": []}
    status = {"b_write": {}, "b_query": {}, "a_write": {}, "a_query": {}}
    lock = threading.Lock()

    def record(kind, code, ms=None):
        with lock:
            status[kind][code] = status[kind].get(code, 0) + 1
            if ms is not None and kind in lat and code in (200, 204):
                lat[kind].append(ms)

    def b_writer(i):
        c = Client(port, tok, "b")
        n = 0
        while time.monotonic() < stop:
            t0 = time.monotonic()
            now = int(time.time() * 1000)
            body = "".join(f"m,w={i},h=h{j} v={n} {now}\n" for j in range(100)).encode()
            code = c.request("POST", "/write?precision=ms", body)
            record("b_write", code, (time.monotonic() - t0) * 1000)
            n += 1
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))

    def b_querier():
        c = Client(port, tok, "b")
        q = urllib.parse.urlencode({"query": "sum(rate(m_v[1m]))"})
        while time.monotonic() < stop:
            t0 = time.monotonic()
            code = c.request("GET", f"/api/v1/query?{q}")
            record("b_query", code, (time.monotonic() - t0) * 1000)
            time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))

    def backoff(c, code):
        # A well-behaved client waits as told (capped at 1 s); the default hammers regardless.
        if args.a_backoff and code == 429:
            time.sleep(min(1.0, float(c.retry_after or 1)))

    def a_writer(i):
        c = Client(port, tok, "a")
        n = 0
        while time.monotonic() < stop:
            now = int(time.time() * 1000)
            body = "".join(f"m,w={i},h=h{j} v={n} {now}\n" for j in range(5000)).encode()
            code = c.request("POST", "/write?precision=ms", body)
            record("a_write", code)
            n += 1
            backoff(c, code)

    def a_querier():
        c = Client(port, tok, "a")
        q = urllib.parse.urlencode({"query": 'count by (h) (count_over_time({__name__=~".+"}[10m]))'})
        while time.monotonic() < stop:
            code = c.request("GET", f"/api/v1/query?{q}")
            record("a_query", code)
            backoff(c, code)

    def a_side(queue):
        # In its own process, so a's body building never holds the interpreter lock b's
        # clients need (in one process, b's latencies would include waiting for a's Python).
        ts = [threading.Thread(target=a_writer, args=(i,)) for i in range(args.a_writers)]
        ts += [threading.Thread(target=a_querier) for _ in range(args.a_queriers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(timeout=seconds + 120)
        queue.put({k: status[k] for k in ("a_write", "a_query")})

    hammer_proc = None
    if hammer:
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        hammer_proc = ctx.Process(target=a_side, args=(queue,))
        hammer_proc.start()
    threads = [threading.Thread(target=b_writer, args=(i,)) for i in range(args.b_writers)]
    threads.append(threading.Thread(target=b_querier))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=seconds + 120)
    if hammer_proc:
        status.update(queue.get(timeout=seconds + 180))
        hammer_proc.join(timeout=60)
    return lat, status


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/debug/foresight")
    ap.add_argument("--phase", type=float, default=20.0, help="seconds per phase (at most 600)")
    ap.add_argument("--b-writers", type=int, default=2)
    ap.add_argument("--a-writers", type=int, default=4)
    ap.add_argument("--a-queriers", type=int, default=4)
    ap.add_argument("--a-rate", type=int, default=20000, help="a's max samples/s")
    ap.add_argument("--a-queries", type=int, default=1, help="a's max concurrent queries")
    ap.add_argument("--a-series", type=int, default=20000, help="a's max active series")
    ap.add_argument("--a-query-seconds", type=float, default=0.0,
                    help="a's max seconds of query evaluation per second (0: no such limit)")
    ap.add_argument("--unlimited-phase", action="store_true")
    ap.add_argument("--a-backoff", action="store_true",
                    help="a's clients honour Retry-After on 429 (capped at 1 s) instead of retrying at once")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    args.phase = min(args.phase, 600.0)

    data = tempfile.mkdtemp(prefix="foresight-tenants-")
    binary = os.path.abspath(args.bin)
    tok = {}
    for t in ("a", "b"):
        tok[t + "w"] = tokens(binary, data, "create", "--tenant", t, "--role", "write")
        tok[t + "r"] = tokens(binary, data, "create", "--tenant", t, "--role", "read")
    tokens(binary, data, "limits", "--tenant", "a", "--max-samples-per-second", str(args.a_rate),
           "--max-concurrent-queries", str(args.a_queries), "--max-series", str(args.a_series),
           "--max-query-seconds-per-second", str(args.a_query_seconds))
    port = free_port()
    server = subprocess.Popen([binary, "--data-dir", data, "serve", "--listen", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/-/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("the server did not become ready")
            time.sleep(0.2)

        results = {}
        phases = [("baseline", False), ("a limited", True)]
        if args.unlimited_phase:
            phases.append(("a unlimited", True))
        for name, hammer in phases:
            if name == "a unlimited":
                tokens(binary, data, "limits", "--tenant", "a", "--max-samples-per-second", "0",
                       "--max-concurrent-queries", "0", "--max-series", "0",
                       "--max-query-seconds-per-second", "0")
                time.sleep(1.5)  # the server reloads the file within a second
            cpu0 = server_cpu(server.pid)
            lat, status = run_phase(port, tok, args.phase, args, hammer)
            cpu = server_cpu(server.pid) - cpu0
            results[name] = {
                "b_write_p50_ms": pct(lat["b_write"], 50), "b_write_p99_ms": pct(lat["b_write"], 99),
                "b_query_p50_ms": pct(lat["b_query"], 50), "b_query_p99_ms": pct(lat["b_query"], 99),
                "status": {k: {str(c): n for c, n in v.items()} for k, v in status.items()},
                "server_cpu_s": cpu,
            }
            r = results[name]
            print(f"{name:12} b write p50 {r['b_write_p50_ms']:7.1f} ms  p99 {r['b_write_p99_ms']:7.1f} ms  "
                  f"({len(lat['b_write'])} ok) | b query p50 {r['b_query_p50_ms']:7.1f} ms  "
                  f"p99 {r['b_query_p99_ms']:7.1f} ms  ({len(lat['b_query'])} ok) | "
                  f"a writes {r['status']['a_write']} a queries {r['status']['a_query']} "
                  f"b {r['status']['b_write']} {r['status']['b_query']} | server CPU {cpu:.1f} s", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"args": vars(args), "results": results}, f, indent=2)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
