"""Times /api/v1/anomalies (default method) and /api/v1/forecast over HTTP on long series.

Usage: python http_bench.py FORESIGHT_BINARY [SERIES] [POINTS_PER_SERIES]

Starts `foresight serve` on a free loopback port with a fresh data directory, writes one series
of 100,000 points at 10 s and SERIES (default 100) series of POINTS (default 8,640: a day at 10 s)
through /write, then times each request (wall clock, whole response read).
"""
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

T0 = 1_767_225_600  # seconds


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def value(i, t):
    x = math.sin((t + 7 * i) * 12.9898) * 43758.5453
    return 50 + 10 * math.sin(2 * math.pi * t / 8640) + 4 * (x - math.floor(x) - 0.5) + (25 if t % 1000 == 999 else 0)


def write(base, lines):
    body = ("\n".join(lines)).encode()
    req = urllib.request.Request(f"{base}/write?precision=s", data=body, method="POST")
    urllib.request.urlopen(req).read()


def timed(base, path, params):
    url = f"{base}{path}?" + urllib.parse.urlencode(params)
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as r:
        body = r.read()
    return time.perf_counter() - t0, len(body)


def main():
    binary = sys.argv[1]
    series = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    points = int(sys.argv[3]) if len(sys.argv) > 3 else 8640
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as d:
        proc = subprocess.Popen(
            [binary, "--data-dir", d, "--durability", "none", "serve", "--listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/-/ready").read()
                    break
                except OSError:
                    time.sleep(0.1)
            long_n = 100_000
            for a in range(0, long_n, 20_000):
                write(base, [f"long v={value(0, t)} {T0 + 10 * t}" for t in range(a, min(long_n, a + 20_000))])
            for i in range(series):
                write(base, [f"day,host=h{i} v={value(i, t)} {T0 + 10 * t}" for t in range(points)])
            end_long = T0 + 10 * (long_n - 1)
            end_day = T0 + 10 * (points - 1)
            rows = []
            for path, extra in [("/api/v1/anomalies", {}), ("/api/v1/forecast", {"horizon": "360"})]:
                q = {"query": "long_v", "start": T0, "end": end_long, "step": "10s", **extra}
                dt, size = timed(base, path, q)
                rows.append((path, f"1 series x {long_n:,}", dt, size, long_n))
                q = {"query": "day_v", "start": T0, "end": end_day, "step": "10s", **extra}
                dt, size = timed(base, path, q)
                rows.append((path, f"{series} series x {points:,}", dt, size, series * points))
            for path, what, dt, size, n in rows:
                print(f"{path} {what}: {dt:.2f} s wall, {dt * 1e6 / n:.2f} us/point, {size / 1e6:.1f} MB")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
