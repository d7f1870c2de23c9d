#!/usr/bin/env bash
# A 30-day period report (`/api/v1/report`) over 100 series of 10 s data: `foresight import` of
# 60 days (the period and the previous one; 10 services x 10 instances, a daily cycle, a slow
# trend, deterministic noise; 51.8 M samples), then `foresight serve` on 127.0.0.1 and curl's
# total time of each request: by service (JSON, HTML), one group, raw=true, 7 days (a selector
# and an expression), and
# quantile_over_time per series for comparison. The data directory is kept between runs (delete
# OUT to import again). Not part of `cargo test`; the import takes ~2.5 minutes.
#
#   bash benches/report.sh
#
# Knobs: OUT=/tmp/foresight-report FORESIGHT=path (default target/release/foresight, built if missing)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/foresight-report}
FORESIGHT=${FORESIGHT:-$ROOT/target/release/foresight}
PORT=18932
END=1767225600   # 2026-01-01T00:00:00Z, on the hour: the 1 h steps are whole rollup windows
START=$((END - 30 * 86400))
[ -x "$FORESIGHT" ] || (cd "$ROOT" && cargo build --release -p foresight)
mkdir -p "$OUT"
if [ ! -f "$OUT/data/.imported" ]; then
  rm -rf "$OUT/data"
  python3 - "$END" <<'PY' | "$FORESIGHT" --data-dir "$OUT/data" import - --precision s --flush > "$OUT/import.log" 2>&1
import math, sys
end, days, step = int(sys.argv[1]), 60, 10
start = end - days * 86400
out, buf = sys.stdout, []
for t in range(start + step, end + 1, step):
    day = (t - start) / 86400.0
    cyc = 20.0 * math.sin(day * 2 * math.pi)
    for s in range(10):
        for i in range(10):
            h = ((t // step) * 2654435761 + s * 97 + i * 13) % 1000
            buf.append(f"lat,service=s{s},instance=i{i} ms={100.0 + 3 * s + 0.1 * day + cyc + h / 100.0:.2f} {t}\n")
    if len(buf) >= 200000:
        out.write("".join(buf))
        buf.clear()
out.write("".join(buf))
PY
  touch "$OUT/data/.imported"
fi
"$FORESIGHT" --data-dir "$OUT/data" serve --listen 127.0.0.1:$PORT > "$OUT/serve.log" 2>&1 &
PID=$!
trap 'kill $PID' EXIT
for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$PORT/-/ready > /dev/null && break; sleep 0.5; done
report() {
  curl -s -o "$OUT/out.$1" -w "$1: %{http_code} %{time_total} s %{size_download} B\n" \
    http://127.0.0.1:$PORT/api/v1/report -d start=$START -d end=$END "${@:2}"
}
for _ in 1 2 3; do report by-service --data-urlencode query=lat_ms -d by=service -d threshold=130; done
for _ in 1 2; do report html --data-urlencode query=lat_ms -d by=service -d threshold=130 -d format=html; done
report one-group --data-urlencode query=lat_ms -d threshold=130
for _ in 1 2; do report raw --data-urlencode query=lat_ms -d by=service -d threshold=130 -d raw=true; done
# Over 7 days: an expression is a range query over both periods and, as /api/v1/query_range, may
# hold at most --max-samples (50 M) raw samples; 60 days of these 100 series are 51.8 M.
for _ in 1 2; do
  curl -s -o "$OUT/out.week" -w "7 days, selector: %{http_code} %{time_total} s\n" http://127.0.0.1:$PORT/api/v1/report \
    -d start=$((END - 7 * 86400)) -d end=$END --data-urlencode query=lat_ms -d by=service
  curl -s -o "$OUT/out.week-expr" -w "7 days, expression: %{http_code} %{time_total} s\n" http://127.0.0.1:$PORT/api/v1/report \
    -d start=$((END - 7 * 86400)) -d end=$END --data-urlencode 'query=lat_ms * 1' -d by=service
done
curl -s -o /dev/null -w "quantile_over_time(0.99, lat_ms[30d]): %{time_total} s\n" \
  http://127.0.0.1:$PORT/api/v1/query --data-urlencode 'query=quantile_over_time(0.99, lat_ms[30d])' -d time=$END
