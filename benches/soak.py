#!/usr/bin/env python3
"""Soak test: foresight at half its measured ingest capacity for a long time, with queries.

Starts `foresight serve` on 127.0.0.1 (an OS-chosen port, a fresh data directory), measures its
ingest capacity (writers unthrottled for --measure seconds), then for --duration runs two writers,
tenants "a" and "b" (real tenants with their own tokens, see below; each its own series), at
half that rate in total, plus --query-threads threads of queries. The data's clock runs faster than
the wall clock (each round of a writer's series is --step of data time), so partitions close, are
flushed and compacted all along: the steady state of a long-running server. Every 10 s the server's
resident memory (VmRSS) is sampled. At the end, every writer's acknowledged samples are counted back
through `count_over_time` (in windows of bounded size) and the summary is printed:

    RSS first/min/max/last (MiB), drift % of RSS (judged), of RssAnon (the process' own memory)
    and of RssFile (mapped block files' pages, reclaimable) as the mean of the last third of the
    samples after warm-up vs the first third, the mean and floor of each per 5 minutes, write and query
    errors, samples acknowledged, found, lost (acknowledged but not found) and unexpected (found but
    not acknowledged: a failed write partly stored).

Exit status 0 when there were no errors, nothing was lost and RSS stayed within --max-drift %.

    cargo build --release
    python3 benches/soak.py --duration 30m                  # the issue's soak
    python3 benches/soak.py --duration 4m --measure 15      # a short proof run

Tenants: when the script starts the server itself, it first creates a write and a read token
for each of the tenants "a" and "b" in the fresh data directory (`foresight tokens create`), so
authentication is on and the two writers are two real tenants (each writes with its write token,
its queries and the count-back use its read token; the series names are the same on both sides).
--no-tenants runs without tokens, as a single-user install. With --url (a server already running,
RSS sampled from --pid if given), --token-a/--token-b are sent as `Authorization: Token <t>` by
writer a/b and its queries (a token with both rights: an admin token acting as the tenant is not
supported here).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SERIES_PER_WRITER = 1000
BATCH_ROUNDS = 5  # rounds of all a writer's series per request: 5,000 lines


def parse_duration(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"bad duration {text!r}: use 30s, 5m, 1h")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


class Conn:
    """One keep-alive HTTP connection (per thread)."""

    def __init__(self, host, port, token=None):
        self.host, self.port, self.token = host, port, token
        self.c = None

    def request(self, method, path, body=None, timeout=60):
        headers = {"Content-Type": "text/plain"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        for attempt in (0, 1):
            try:
                if self.c is None:
                    self.c = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
                self.c.request(method, path, body=body, headers=headers)
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError) as e:
                self.c = None
                if attempt == 1:
                    return None, str(e).encode()
        return None, b""


def rss_kib(pid):
    """(VmRSS, RssAnon, RssFile) of `pid` in KiB, or None."""
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    fields[key] = int(line.split()[1])
    except OSError:
        return None
    if "VmRSS" not in fields:
        return None
    return fields["VmRSS"], fields.get("RssAnon", 0), fields.get("RssFile", 0)


def drift_of(rss, elapsed, index):
    """Mean of the last third vs the first third of the samples after warm-up (RSS saws up and
    down with flushes and queries: two single samples would say little): (first, last, drift %)."""
    values = [k[index] for _, k in rss]
    warm = [k[index] for s, k in rss if s >= min(60, elapsed * 0.2)] or values
    third = max(1, len(warm) // 3)
    head, tail = sum(warm[:third]) / third, sum(warm[-third:]) / third
    return head, tail, (tail - head) / head * 100 if head else 0.0


class Writer:
    """Writes rounds of SERIES_PER_WRITER series of `<metric>_v{tenant=NAME,s=N}`, data time advancing by
    `step_ms` each round, at `rate` samples/s (None: as fast as acknowledged)."""

    def __init__(self, host, port, name, metric, t0_ms, step_ms, token=None):
        self.conn = Conn(host, port, token)
        self.name, self.metric, self.t0_ms, self.step_ms = name, metric, t0_ms, step_ms
        self.round = 0
        self.acked = 0
        self.errors = 0
        self.last_error = ""
        self.failed_rounds = []  # (first round, rounds) of failed requests

    def body(self):
        lines = []
        for r in range(self.round, self.round + BATCH_ROUNDS):
            t = self.t0_ms + r * self.step_ms
            v = r % 1000
            for s in range(SERIES_PER_WRITER):
                lines.append(f"{self.metric},tenant={self.name},s={s} v={v} {t}\n")
        return "".join(lines).encode()

    def run(self, stop_at, rate, stop_event):
        per_req = SERIES_PER_WRITER * BATCH_ROUNDS
        started = time.monotonic()
        sent = 0
        while time.monotonic() < stop_at and not stop_event.is_set():
            if rate:
                due = started + sent / rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, 1.0))
                    continue
            status, text = self.conn.request("POST", "/write?precision=ms", self.body())
            if status == 204:
                self.acked += per_req
            else:
                self.errors += 1
                self.last_error = f"{status}: {text[:200]!r}"
                self.failed_rounds.append((self.round, BATCH_ROUNDS))
            self.round += BATCH_ROUNDS
            sent += per_req

    def data_end_ms(self):
        return self.t0_ms + self.round * self.step_ms


class Querier:
    def __init__(self, host, port, writers, token=None):
        self.conn = Conn(host, port, token)
        self.writers = writers
        self.ok = 0
        self.errors = 0
        self.last_error = ""

    def run(self, stop_at, stop_event):
        i = 0
        while time.monotonic() < stop_at and not stop_event.is_set():
            w = self.writers[i % len(self.writers)]
            end = max(w.data_end_ms() - w.step_ms * BATCH_ROUNDS, w.t0_ms) / 1000
            sel = f'{w.metric}_v{{tenant="{w.name}"}}'
            if i % 3 == 0:
                q = {"query": f"sum(rate({sel}[5m]))", "time": f"{end:.3f}"}
                path = "/api/v1/query?"
            elif i % 3 == 1:
                q = {"query": f"max by (s) (avg_over_time({sel}[10m]))", "time": f"{end:.3f}"}
                path = "/api/v1/query?"
            else:
                q = {"query": f"sum({sel})", "start": f"{end - 6 * 3600:.3f}", "end": f"{end:.3f}", "step": "60"}
                path = "/api/v1/query_range?"
            status, text = self.conn.request("GET", path + urllib.parse.urlencode(q))
            if status == 200:
                self.ok += 1
            else:
                self.errors += 1
                self.last_error = f"{status}: {text[:200]!r}"
            i += 1
            time.sleep(0.05)


def count_samples(conn, w, window_ms):
    """Samples of writer `w`'s series, summed over windows tiling its data time."""
    total = 0
    start = w.t0_ms - 1
    end = w.data_end_ms()
    t = start
    while t < end:
        t_next = min(t + window_ms, end)
        q = {
            "query": f'sum(count_over_time({w.metric}_v{{tenant="{w.name}"}}[{t_next - t}ms]))',
            "time": f"{t_next / 1000:.3f}",
        }
        status, text = conn.request("GET", "/api/v1/query?" + urllib.parse.urlencode(q), timeout=600)
        if status != 200:
            raise RuntimeError(f"count query failed: {status}: {text[:300]!r}")
        result = json.loads(text)["data"]["result"]
        total += int(float(result[0]["value"][1])) if result else 0
        t = t_next
    return total


def create_token(binary, data_dir, tenant, role):
    out = subprocess.run([binary, "--data-dir", data_dir, "tokens", "create", "--tenant", tenant, "--role", role,
                          "--name", f"soak-{tenant}-{role}"], capture_output=True, text=True, check=True)
    m = re.search(r"^(fst_[0-9a-f]+)$", out.stdout + out.stderr, re.M)
    if not m:
        sys.exit(f"no token in the output of `tokens create`: {out.stdout}{out.stderr}")
    return m.group(1)


def start_server(binary, data_dir, extra):
    args = [binary, "--data-dir", data_dir, "serve", "--listen", "127.0.0.1:0", *extra]
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "RUST_LOG": "warn,foresight_server=info", "NO_COLOR": "1"})
    port = None
    deadline = time.monotonic() + 60
    log = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        log.append(line)
        m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
        if m:
            port = int(m.group(1))
            break
    if port is None:
        proc.kill()
        sys.exit("the server did not start:\n" + "".join(log))
    # Keep draining its log so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    conn = Conn("127.0.0.1", port)
    for _ in range(600):
        if conn.request("GET", "/-/ready")[0] == 200:
            return proc, port
        time.sleep(0.1)
    proc.kill()
    sys.exit("the server never became ready")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=parse_duration, default=parse_duration("30m"))
    ap.add_argument("--measure", type=parse_duration, default=parse_duration("20s"),
                    help="seconds of unthrottled writing to measure capacity")
    ap.add_argument("--rate", type=float, help="total samples/s (default: half the measured capacity)")
    ap.add_argument("--binary", help="foresight binary (default: target/release, else target/debug)")
    ap.add_argument("--url", help="use this running server (http://127.0.0.1:PORT) instead of starting one")
    ap.add_argument("--pid", type=int, help="with --url: the server's pid, for RSS")
    ap.add_argument("--token-a")
    ap.add_argument("--token-b")
    ap.add_argument("--query-threads", type=int, default=2)
    ap.add_argument("--step", type=parse_duration, default=parse_duration("10s"),
                    help="data time between two rounds of a writer's series")
    ap.add_argument("--max-drift", type=float, default=10.0, help="allowed RSS drift, %%")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra `serve` argument (repeatable)")
    ap.add_argument("--no-tenants", action="store_true",
                    help="when starting the server: no tokens, one (default) tenant")
    args = ap.parse_args()
    # Per tenant: (write token, read token).
    tokens = {"a": (args.token_a, args.token_a), "b": (args.token_b, args.token_b)}

    tmp = None
    proc = None
    if args.url:
        u = urllib.parse.urlparse(args.url)
        host, port, pid = u.hostname, u.port, args.pid
    else:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        binary = args.binary or next((p for p in (f"{root}/target/release/foresight", f"{root}/target/debug/foresight")
                                      if os.path.exists(p)), None)
        if not binary:
            sys.exit("no foresight binary: cargo build --release, or pass --binary")
        tmp = tempfile.mkdtemp(prefix="foresight-soak-")
        if not args.no_tenants:
            tokens = {n: (create_token(binary, tmp, n, "write"), create_token(binary, tmp, n, "read"))
                      for n in ("a", "b")}
        proc, port = start_server(binary, tmp, ["--durability", "fsync", *args.serve_arg])
        host, pid = "127.0.0.1", proc.pid
        print(f"server {binary} pid {pid} on 127.0.0.1:{port}, data in {tmp}", flush=True)

    step_ms = int(args.step * 1000)
    now_ms = int(time.time() * 1000)
    stop = threading.Event()
    try:
        rate = args.rate
        if rate is None:
            # Capacity: two unthrottled writers per tenant, on a metric of their own, far in the past.
            ms = [Writer(host, port, n, "soak_measure", now_ms - 400 * 86_400_000, step_ms, tokens[n[0]][0])
                  for n in ("a", "b", "a2", "b2")]
            until = time.monotonic() + args.measure
            ts = [threading.Thread(target=w.run, args=(until, None, stop)) for w in ms]
            t0 = time.monotonic()
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            capacity = sum(w.acked for w in ms) / (time.monotonic() - t0)
            rate = capacity / 2
            print(f"measured capacity {capacity:,.0f} samples/s over {args.measure:.0f} s "
                  f"({sum(w.errors for w in ms)} errors); soaking at {rate:,.0f} samples/s", flush=True)

        # Data time the soak covers, so it ends before now (no future-window refusals).
        rounds = rate / 2 / SERIES_PER_WRITER * args.duration
        t0_ms = now_ms - int(rounds * step_ms) - 86_400_000
        writers = [Writer(host, port, n, "soak", t0_ms, step_ms, tokens[n][0]) for n in ("a", "b")]
        queriers = [Querier(host, port, [writers[i % 2]], tokens["ab"[i % 2]][1])
                    for i in range(args.query_threads)]
        until = time.monotonic() + args.duration
        threads = [threading.Thread(target=w.run, args=(until, rate / 2, stop)) for w in writers]
        threads += [threading.Thread(target=q.run, args=(until, stop)) for q in queriers]
        started = time.monotonic()
        for t in threads:
            t.start()
        rss = []
        while any(t.is_alive() for t in threads):
            kib = rss_kib(pid) if pid else None
            if kib is not None:
                rss.append((time.monotonic() - started, kib))
                acked = sum(w.acked for w in writers)
                print(f"  {rss[-1][0]:6.0f} s  RSS {kib[0] / 1024:8.1f} MiB (anon {kib[1] / 1024:.1f}, "
                      f"file {kib[2] / 1024:.1f})  acked {acked:,}  "
                      f"write errors {sum(w.errors for w in writers)}  queries {sum(q.ok for q in queriers)} "
                      f"(errors {sum(q.errors for q in queriers)})", flush=True)
            for _ in range(100):
                if not any(t.is_alive() for t in threads):
                    break
                time.sleep(0.1)
        elapsed = time.monotonic() - started
        for t in threads:
            t.join()

        # Count back: windows holding at most ~2M samples each.
        conn = Conn(host, port)
        results = []
        for w in writers:
            conn.token = tokens[w.name][1]
            window = max(step_ms, int(2_000_000 / SERIES_PER_WRITER) * step_ms)
            found = count_samples(conn, w, window)
            results.append((w, found))
    finally:
        stop.set()
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    write_errors = sum(w.errors for w in writers)
    query_errors = sum(q.errors for q in queriers)
    acked = sum(w.acked for w in writers)
    lost = sum(max(0, w.acked - f) for w, f in results)
    unexpected = sum(max(0, f - w.acked) for w, f in results)
    print()
    print(f"duration {elapsed:.0f} s, target {rate:,.0f} samples/s, achieved {acked / elapsed:,.0f} samples/s")
    print(f"queries {sum(q.ok for q in queriers)} ok, {query_errors} errors"
          + (f" (last: {queriers[0].last_error or queriers[-1].last_error})" if query_errors else ""))
    print(f"writes: {acked:,} samples acknowledged, {write_errors} failed requests"
          + (f" (last: {writers[0].last_error or writers[1].last_error})" if write_errors else ""))
    for w, f in results:
        print(f"  tenant {w.name}: acknowledged {w.acked:,}, found {f:,}")
    print(f"lost {lost:,}, unexpected {unexpected:,}")
    drift_ok = True
    if rss:
        mib = lambda k: f"{k / 1024:.1f}"
        values = [k[0] for _, k in rss]
        print(f"RSS MiB: first {mib(values[0])}, min {mib(min(values))}, max {mib(max(values))}, "
              f"last {mib(values[-1])} ({len(rss)} samples every 10 s)")
        # Judged: VmRSS, as the issue states it. RssAnon is the process' own memory; RssFile is
        # pages of the mapped block files, which the kernel reclaims at will.
        for name, index in (("RSS", 0), ("RssAnon", 1), ("RssFile", 2)):
            head, tail, drift = drift_of(rss, elapsed, index)
            judged = index == 0
            if judged:
                drift_ok = abs(drift) <= args.max_drift
            print(f"  {name:8} after warm-up: mean of the first third {mib(head)}, of the last third {mib(tail)}, "
                  f"drift {drift:+.1f} %" + (f" (judged: at most {args.max_drift:.0f} %)" if judged else ""))
        # The saw's floor and mean per 5 minutes: retained memory shows in the floor.
        print("  per 5 minutes (MiB): RSS mean / min, RssAnon mean / min")
        for w in range(0, int(elapsed // 300) + 1):
            win = [k for s_, k in rss if w * 300 <= s_ < (w + 1) * 300]
            if win:
                n = len(win)
                print(f"    {w * 5:3d}-{w * 5 + 5:3d} min  {mib(sum(k[0] for k in win) / n)} / {mib(min(k[0] for k in win))}"
                      f"   {mib(sum(k[1] for k in win) / n)} / {mib(min(k[1] for k in win))}")
    ok = write_errors == 0 and query_errors == 0 and lost == 0 and unexpected == 0 and drift_ok
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
