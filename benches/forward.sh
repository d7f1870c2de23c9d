#!/usr/bin/env bash
# Edge forwarding, side by side: foresight (`serve --remote-write-url`) and vmagent
# (`-remoteWrite.url`) each take the same line-protocol workload (`foresight bench`) and forward it
# to a VictoriaMetrics started here; reported per forwarder: the ingest rate the writers saw, the
# time from the first write until every sample is queryable in VictoriaMetrics, and the
# forwarder's CPU-seconds per million samples over that whole time. Everything on 127.0.0.1,
# fresh directories, processes stopped by PID. Not part of `cargo test`; ~5 minutes.
#
#   bash benches/forward.sh                  # both
#   bash benches/forward.sh foresight        # one
#
# Knobs: HOSTS=100 FIELDS=10 DURATION=6h WRITERS=4 BATCH=5000 OUT=/tmp/foresight-forward
#   FORESIGHT=path (default target/release/foresight, built if missing)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-/tmp/foresight-forward}
HOSTS=${HOSTS:-100}; FIELDS=${FIELDS:-10}; DURATION=${DURATION:-6h}; WRITERS=${WRITERS:-4}; BATCH=${BATCH:-5000}
FORESIGHT=${FORESIGHT:-$ROOT/target/release/foresight}
START=1699920000   # 2023-11-14T00:00:00Z
P_VM=18528; P_EDGE=18586
[ -x "$FORESIGHT" ] || (cd "$ROOT" && cargo build --release -q) || exit 1
command -v victoria-metrics >/dev/null && command -v vmagent >/dev/null \
  || { echo "needs victoria-metrics and vmagent (Debian: apt-get install victoria-metrics)"; exit 1; }

mkdir -p "$OUT/logs"
STARTED=()
stop_pid() {
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
wait_http() {  # url seconds
  local i; for i in $(seq 1 $(($2 * 10))); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1"; return 1
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
now() { date +%s.%N; }

# Samples the workload writes: hosts x fields x duration / 10 s.
secs=$(python3 -c "import re,sys;m=re.fullmatch(r'(\d+)([smhd])','$DURATION');print(int(m[1])*{'s':1,'m':60,'h':3600,'d':86400}[m[2]])")
EXPECTED=$((HOSTS * FIELDS * secs / 10))
END_S=$((START + secs))

vm_count() {
  curl -s "http://127.0.0.1:$P_VM/internal/force_flush" >/dev/null
  curl -s "http://127.0.0.1:$P_VM/api/v1/query" --data-urlencode "query=sum(count_over_time({__name__=~\"cpu_.+\"}[$((secs + 60))s]))" \
    --data-urlencode "time=$END_S" | python3 -c "import json,sys;r=json.load(sys.stdin)['data']['result'];print(int(float(r[0]['value'][1])) if r else 0)"
}

run() {  # name, edge pid
  local name=$1 pid=$2 t0 c0 t1 c1 n ingest_end
  t0=$(now); c0=$(cpu_ticks "$pid")
  "$FORESIGHT" bench --workload cpu --hosts "$HOSTS" --fields "$FIELDS" --duration "$DURATION" --start "$START" \
    --writers "$WRITERS" --batch "$BATCH" --pregenerate --quiet --no-verify --query-reps 0 --queries none --flush none --db '' \
    --target "http://127.0.0.1:$P_EDGE" --label "$name" --pid "$pid" --no-constants \
    --report "$OUT/$name.json" > "$OUT/logs/$name-bench.log" 2>&1 \
    || { echo "the load failed:"; tail -5 "$OUT/logs/$name-bench.log"; return 1; }
  ingest_end=$(now)
  for _ in $(seq 1 1200); do
    n=$(vm_count); [ "$n" -ge "$EXPECTED" ] && break; sleep 0.5
  done
  t1=$(now); c1=$(cpu_ticks "$pid")
  python3 - "$name" "$t0" "$ingest_end" "$t1" "$c0" "$c1" "$n" "$EXPECTED" "$(getconf CLK_TCK)" <<'EOF' | tee -a "$OUT/table.md"
import sys
name, t0, ie, t1, c0, c1, n, exp, hz = sys.argv[1:]
t0, ie, t1 = float(t0), float(ie), float(t1)
cpu = (int(c1) - int(c0)) / int(hz)
print(f"| {name} | {int(exp)/(ie-t0)/1e3:,.0f} k/s | {t1-t0:.1f} s | {int(n):,} of {int(exp):,} | {cpu/(int(exp)/1e6):.2f} |")
EOF
}

echo "| forwarder | ingest (writers' view) | first write -> all queryable in VM | samples in VM | edge CPU-s per M samples |" | tee "$OUT/table.md"
echo "|---|---|---|---|---|" | tee -a "$OUT/table.md"
for who in "${@:-foresight vmagent}"; do
  for w in $who; do
    rm -rf "$OUT/vm" "$OUT/edge"; mkdir -p "$OUT/vm" "$OUT/edge"
    victoria-metrics -storageDataPath="$OUT/vm" -httpListenAddr=127.0.0.1:$P_VM -retentionPeriod=100y \
      -search.disableCache > "$OUT/logs/vm-$w.log" 2>&1 &
    vm=$!; STARTED+=("$vm")
    wait_http "http://127.0.0.1:$P_VM/health" 60 || exit 1
    case $w in
      foresight)
        "$FORESIGHT" serve --data-dir "$OUT/edge" --listen 127.0.0.1:$P_EDGE \
          --remote-write-url "http://127.0.0.1:$P_VM/api/v1/write" > "$OUT/logs/edge-$w.log" 2>&1 &
        edge=$!; STARTED+=("$edge"); wait_http "http://127.0.0.1:$P_EDGE/-/ready" 60 || exit 1 ;;
      vmagent)
        vmagent -httpListenAddr=127.0.0.1:$P_EDGE -remoteWrite.url="http://127.0.0.1:$P_VM/api/v1/write" \
          -remoteWrite.tmpDataPath="$OUT/edge" > "$OUT/logs/edge-$w.log" 2>&1 &
        edge=$!; STARTED+=("$edge"); wait_http "http://127.0.0.1:$P_EDGE/health" 60 || exit 1 ;;
      *) echo "unknown forwarder $w"; exit 1 ;;
    esac
    run "$w" "$edge"
    stop_pid "$edge"; stop_pid "$vm"
  done
done
