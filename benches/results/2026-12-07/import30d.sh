#!/usr/bin/env bash
# 1,000 series x 30 d at 10 s (259.2 M samples): `foresight import` of the file, and the same
# lines over HTTP to foresight serve and to VictoriaMetrics as ~1.5 MB POSTs (about 5,000 lines)
# from four threads (post.py reads the file as it goes).
# Loopback only; every server is started here with a fresh directory and stopped by PID.
#
#   foresight bench --hosts 100 --fields 10 --interval 10s --duration 30d --emit /tmp/m30d.lp
#   bash benches/results/2026-12-07/import30d.sh
set -u
F=${FORESIGHT:-target/release/foresight}
OUT=${OUT:-/tmp/import30d}
LP=${LP:-/tmp/m30d.lp}
rm -rf "$OUT"; mkdir -p "$OUT"
peak() { grep VmHWM "/proc/$1/status" | awk '{print $2/1024 " MiB"}'; }
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
post4() {  # post4 URL: the file as ~1.5 MB POSTs of whole lines from 4 threads (post.py)
  python3 "$(dirname "$0")/post.py" "$1" "$LP" 1500000 4
}
wait_http() { local i; for i in $(seq 1 120); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.5; done; return 1; }

echo "== foresight import"
/usr/bin/time -v "$F" --data-dir "$OUT/fs-import" import --precision s "$LP" > "$OUT/fs-import.log" 2> "$OUT/fs-import.time"
grep -E "Elapsed|Maximum resident|Percent of CPU" "$OUT/fs-import.time"
tail -3 "$OUT/fs-import.log"
du -sb "$OUT/fs-import" | awk '{print $1/259200000 " bytes/sample at rest"}'

echo "== foresight serve, 4 x 1.5 MB POSTs"
"$F" serve --data-dir "$OUT/fs-serve" --listen 127.0.0.1:18186 > "$OUT/fs-serve.log" 2>&1 &
pid=$!; wait_http http://127.0.0.1:18186/-/ready
c0=$(cpu $pid); t0=$(date +%s.%N)
post4 "http://127.0.0.1:18186/write?precision=s" || echo "a POST failed"
t1=$(date +%s.%N); c1=$(cpu $pid)
echo "wall $(echo "$t1 - $t0" | bc) s, server CPU $(echo "$c1 - $c0" | bc) s, peak RSS $(peak $pid)"
curl -gsS 'http://127.0.0.1:18186/api/v1/query?query=sum(count_over_time(cpu_usage_user[31d]))&time=1702520000' -o "$OUT/fs-count.json"
kill $pid; wait $pid

echo "== VictoriaMetrics, 4 x 1.5 MB POSTs"
victoria-metrics -storageDataPath="$OUT/vm" -httpListenAddr=127.0.0.1:18428 -retentionPeriod=100y > "$OUT/vm.log" 2>&1 &
pid=$!; wait_http http://127.0.0.1:18428/health
c0=$(cpu $pid); t0=$(date +%s.%N)
post4 "http://127.0.0.1:18428/write?precision=s" || echo "a POST failed"
t1=$(date +%s.%N); c1=$(cpu $pid)
echo "wall $(echo "$t1 - $t0" | bc) s, server CPU $(echo "$c1 - $c0" | bc) s, peak RSS $(peak $pid)"
curl -sS http://127.0.0.1:18428/internal/force_flush > /dev/null
sleep 2
curl -gsS 'http://127.0.0.1:18428/api/v1/query?query=sum(count_over_time(cpu_usage_user[31d]))&time=1702520000' -o "$OUT/vm-count.json"
kill $pid; wait $pid
