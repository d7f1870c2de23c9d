"""Writes to a running foresight with the unmodified InfluxDB Python clients, then checks the
data through the Prometheus query API. Usage: python3 clients.py http://127.0.0.1:PORT"""

import json
import sys
import urllib.parse
import urllib.request

from influxdb import InfluxDBClient as V1Client
from influxdb.exceptions import InfluxDBClientError
from influxdb_client import InfluxDBClient, Point, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

URL = sys.argv[1]
T = 1700000000


def query(q, t=T):
    qs = urllib.parse.urlencode({"query": q, "time": t})
    with urllib.request.urlopen(f"{URL}/api/v1/query?{qs}", timeout=30) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return {
        tuple(sorted((k, v) for k, v in s["metric"].items() if k != "__name__")): s["value"][1]
        for s in body["data"]["result"]
    }


def check(name, got, want):
    if got != want:
        raise SystemExit(f"{name}: got {got!r}, want {want!r}")
    print(f"ok: {name}")


# InfluxDB 2.x client: plain and gzip, Point objects and line strings.
for gz in (False, True):
    src = "v2gz" if gz else "v2"
    with InfluxDBClient(url=URL, token="any-token", org="org", enable_gzip=gz, timeout=30_000) as c:
        w = c.write_api(write_options=SYNCHRONOUS)
        w.write(
            bucket="bucket",
            record=Point("py").tag("src", src).tag("host", "a").field("value", 2.5).time(T, WritePrecision.S),
            write_precision=WritePrecision.S,
        )
        w.write(bucket="bucket", record=f"py,src={src},host=b value=3i {T}", write_precision=WritePrecision.S)
        try:
            w.write(
                bucket="bucket",
                record=[f"py,src={src},host=c value=4 {T}", "this is not line protocol"],
                write_precision=WritePrecision.S,
            )
            raise SystemExit("a bad line was accepted by the 2.x client")
        except ApiException as e:
            check(f"{src} bad line status", e.status, 400)
            body = json.loads(e.body)
            check(f"{src} bad line numbers", [x["line"] for x in body["errors"]], [2])
            if "line 2" not in str(e):
                raise SystemExit(f"the client's error does not name the line: {e}")
            print(f"ok: {src} client error reads: {str(e).splitlines()[0][:120]}")
    check(
        f"{src} stored",
        query(f'py_value{{src="{src}"}}'),
        {(("host", "a"), ("src", src)): "2.5", (("host", "b"), ("src", src)): "3", (("host", "c"), ("src", src)): "4"},
    )

# InfluxDB 1.x client: JSON points and line protocol, plain and gzip.
port = int(URL.rsplit(":", 1)[1])
for gz in (False, True):
    src = "v1gz" if gz else "v1"
    c = V1Client(host="127.0.0.1", port=port, database="bench", gzip=gz, timeout=30)
    ok = c.write_points(
        [{"measurement": "py", "tags": {"src": src, "host": "a"}, "time": T, "fields": {"value": 1.25}}],
        time_precision="s",
    )
    check(f"{src} write_points", ok, True)
    ok = c.write_points([f"py,src={src},host=b value=7 {T}"], protocol="line", time_precision="s")
    check(f"{src} write_points line", ok, True)
    try:
        c.write_points([f"py,src={src},host=c value=8 {T}", "bad"], protocol="line", time_precision="s")
        raise SystemExit("a bad line was accepted by the 1.x client")
    except InfluxDBClientError as e:
        check(f"{src} bad line code", e.code, 400)
        if "line 2" not in str(e.content):
            raise SystemExit(f"the 1.x client's error does not name the line: {e.content}")
    check(
        f"{src} stored",
        query(f'py_value{{src="{src}"}}'),
        {(("host", "a"), ("src", src)): "1.25", (("host", "b"), ("src", src)): "7", (("host", "c"), ("src", src)): "8"},
    )
    check(f"{src} ping", bool(c.ping()), True)

print("all client checks passed")
