#!/usr/bin/env bash
# The same `foresight bench` workload against foresight, VictoriaMetrics, InfluxDB 1.x and
# Prometheus (backfilled offline by promtool: disk, memory and queries only), each started here on
# 127.0.0.1 with a fresh data directory and stopped by its PID; then one table of foresight/peer
# ratios. Not part of `cargo test`; takes ~15 minutes for the default workload.
#
#   bash benches/peers.sh                      # foresight vm influx prom
#   bash benches/peers.sh foresight vm         # a subset, in this order (foresight first: it is
#                                              # the reference of the ratio columns)
#
# Knobs (environment): HOSTS=100 FIELDS=10 DURATION=24h INTERVAL=10s WRITERS=4 BATCH=5000 REPS=5
#   WORKLOAD=cpu|devops  OUT=/tmp/foresight-peers (reports, logs, data dirs; wiped per peer)
#   FORESIGHT=path/to/foresight (default: target/release/foresight, built if missing)
#   INSTALL=1: apt-get install the peers when missing (Debian: prometheus victoria-metrics influxdb)
#   SETTLE=300s: longest wait for a peer's background compaction before measuring its size
#   EXTRA='...': more `foresight bench` flags for every run (e.g. --query-clients 1)
#   FLAVOR=influx1|prom-remote-write: the write protocol (prom-remote-write: Prometheus remote write
#     1.0 to /api/v1/write, one TimeSeries per sample as Prometheus sends; foresight and vm only)
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE="$ROOT/benches/peers"
OUT=${OUT:-/tmp/foresight-peers}
HOSTS=${HOSTS:-100}; FIELDS=${FIELDS:-10}; DURATION=${DURATION:-24h}; INTERVAL=${INTERVAL:-10s}
WRITERS=${WRITERS:-4}; BATCH=${BATCH:-5000}; REPS=${REPS:-5}; WORKLOAD=${WORKLOAD:-cpu}
SETTLE=${SETTLE:-300s}; EXTRA=${EXTRA:-}; FLAVOR=${FLAVOR:-influx1}
FORESIGHT=${FORESIGHT:-}
# Ports on loopback, away from the packaged defaults.
P_FS=18086; P_VM=18428; P_IX=18087; P_IX_RPC=18088; P_PR=18090

mkdir -p "$OUT/logs"
STARTED=()
stop_pid() {  # TERM, wait up to 60 s, then KILL; only processes this script started
  local pid=$1 i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }; sleep 0.5; done
  echo "pid $pid did not stop in 60 s, sending KILL"; kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
}
cleanup() { local p; for p in "${STARTED[@]}"; do stop_pid "$p"; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {  # wait_http URL SECONDS: until URL answers 2xx (bounded)
  local url=$1 t=0
  while [ "$t" -lt "$(( $2 * 2 ))" ]; do
    curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
    sleep 0.5; t=$((t + 1))
  done
  echo "no answer from $url after $2 s"; return 1
}

# ---------------------------------------------------------------- tools
if [ -z "$FORESIGHT" ]; then
  FORESIGHT="${CARGO_TARGET_DIR:-$ROOT/target}/release/foresight"
  if [ ! -x "$FORESIGHT" ]; then
    echo "-- building foresight (release)"
    (cd "$ROOT" && cargo build --release -p foresight) || exit 1
  fi
fi
[ -x "$FORESIGHT" ] || { echo "no foresight binary at $FORESIGHT"; exit 1; }

need_peers() {
  command -v victoria-metrics >/dev/null && command -v influxd >/dev/null && command -v prometheus >/dev/null \
    && command -v promtool >/dev/null && return 0
  if [ "${INSTALL:-1}" = 1 ] && [ "$(id -u)" = 0 ]; then
    echo "-- installing the peers from Debian packages"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus victoria-metrics influxdb >/dev/null
  fi
  command -v victoria-metrics >/dev/null && command -v influxd >/dev/null && command -v prometheus >/dev/null
}

BENCH=("$FORESIGHT" bench --workload "$WORKLOAD" --hosts "$HOSTS" --fields "$FIELDS" --duration "$DURATION"
       --interval "$INTERVAL" --writers "$WRITERS" --batch "$BATCH" --query-reps "$REPS" --pregenerate --quiet
       --flavor "$FLAVOR")
REPORTS=()

# ---------------------------------------------------------------- foresight
run_foresight() {
  local d=$OUT/foresight
  rm -rf "$d"; mkdir -p "$d"
  "$FORESIGHT" serve --data-dir "$d/data" --listen 127.0.0.1:$P_FS > "$OUT/logs/foresight.log" 2>&1 &
  local pid=$!; STARTED+=("$pid")
  wait_http http://127.0.0.1:$P_FS/-/ready 120 || { stop_pid "$pid"; return 1; }
  # shellcheck disable=SC2086
  "${BENCH[@]}" --target http://127.0.0.1:$P_FS --label foresight --pid "$pid" --data-dir "$d/data" \
    --flush auto --settle 60s --settle-stable 10s --report "$OUT/foresight.json" \
    --constants "$OUT/bench-constants.json" $EXTRA
  REPORTS+=("$OUT/foresight.json")
  stop_pid "$pid"
}

# ---------------------------------------------------------------- VictoriaMetrics
run_vm() {
  local d=$OUT/victoriametrics part
  rm -rf "$d"; mkdir -p "$d"
  victoria-metrics -storageDataPath="$d/data" -httpListenAddr=127.0.0.1:$P_VM \
    -retentionPeriod=100y -search.disableCache > "$OUT/logs/victoriametrics.log" 2>&1 &
  local pid=$!; STARTED+=("$pid")
  wait_http http://127.0.0.1:$P_VM/health 60 || { stop_pid "$pid"; return 1; }
  part=$(date -u -d @1699920000 +%Y_%m)
  # shellcheck disable=SC2086
  "${BENCH[@]}" --target http://127.0.0.1:$P_VM --label victoriametrics --db '' --pid "$pid" \
    --data-dir "$d/data" --flush "GET /internal/force_flush" \
    --flush "GET /internal/force_merge?partition_prefix=$part" --settle "$SETTLE" --settle-stable 20s \
    --report "$OUT/victoriametrics.json" --no-constants $EXTRA
  REPORTS+=("$OUT/victoriametrics.json")
  stop_pid "$pid"
}

# ---------------------------------------------------------------- InfluxDB 1.x
run_influx() {
  local d=$OUT/influxdb
  rm -rf "$d"; mkdir -p "$d"
  sed -e "s#@DIR@#$d#g" -e "s#@HTTP_PORT@#$P_IX#g" -e "s#@RPC_PORT@#$P_IX_RPC#g" \
    "$HERE/influxdb.conf.in" > "$d/influxdb.conf"
  influxd run -config "$d/influxdb.conf" > "$OUT/logs/influxdb.log" 2>&1 &
  local pid=$!; STARTED+=("$pid")
  wait_http http://127.0.0.1:$P_IX/ping 60 || { stop_pid "$pid"; return 1; }
  curl -fsS -XPOST http://127.0.0.1:$P_IX/query --data-urlencode 'q=CREATE DATABASE bench' > /dev/null
  # InfluxDB answers InfluxQL, not PromQL: its query column is "the closest InfluxQL" (q1-q7).
  # shellcheck disable=SC2086
  "${BENCH[@]}" --target http://127.0.0.1:$P_IX --label influxdb --db bench --pid "$pid" \
    --data-dir "$d" --query-api influxql --flush none --settle "$SETTLE" --settle-stable 40s \
    --report "$OUT/influxdb.json" --no-constants $EXTRA
  REPORTS+=("$OUT/influxdb.json")
  stop_pid "$pid"
}

# ---------------------------------------------------------------- Prometheus
# No line-protocol ingest: the same workload is written as OpenMetrics (`bench --emit`), backfilled
# offline by promtool (timed, reported separately: not comparable with HTTP ingestion), served by
# prometheus from that directory, and measured with `bench --preloaded` (disk, memory, queries).
run_prom() {
  local d=$OUT/prometheus t0 t1
  rm -rf "$d"; mkdir -p "$d/data"
  # shellcheck disable=SC2086
  "$FORESIGHT" bench --workload "$WORKLOAD" --hosts "$HOSTS" --fields "$FIELDS" --duration "$DURATION" \
    --interval "$INTERVAL" --emit "$d/workload.om" --emit-format openmetrics || return 1
  local timer=(); [ -x /usr/bin/time ] && timer=(/usr/bin/time -v)  # GNU time: peak RSS of promtool
  t0=$(date +%s%N)
  "${timer[@]}" promtool tsdb create-blocks-from openmetrics "$d/workload.om" "$d/data" \
    > "$OUT/logs/promtool.log" 2>&1 || { tail "$OUT/logs/promtool.log"; return 1; }
  t1=$(date +%s%N)
  echo "promtool backfill (offline, one core; not comparable with HTTP ingestion): $(( (t1 - t0) / 1000000 )) ms," \
    "peak RSS $(grep 'Maximum resident' "$OUT/logs/promtool.log" | awk '{print $NF " KiB"}')" | tee "$OUT/promtool.txt"
  rm -f "$d/workload.om"
  printf 'global:\n  scrape_interval: 1h\n' > "$d/prometheus.yml"
  prometheus --config.file="$d/prometheus.yml" --storage.tsdb.path="$d/data" \
    --storage.tsdb.retention.time=100y --web.listen-address=127.0.0.1:$P_PR \
    > "$OUT/logs/prometheus.log" 2>&1 &
  local pid=$!; STARTED+=("$pid")
  wait_http http://127.0.0.1:$P_PR/-/ready 120 || { stop_pid "$pid"; return 1; }
  # shellcheck disable=SC2086
  "${BENCH[@]}" --target http://127.0.0.1:$P_PR --label prometheus --preloaded --pid "$pid" \
    --data-dir "$d/data" --flush none --report "$OUT/prometheus.json" --no-constants $EXTRA
  REPORTS+=("$OUT/prometheus.json")
  stop_pid "$pid"
}

PEERS=("$@"); [ ${#PEERS[@]} -eq 0 ] && PEERS=(foresight vm influx prom)
case " ${PEERS[*]} " in *" vm "*|*" influx "*|*" prom "*) need_peers || { echo "peers not installed (INSTALL=1 as root installs them)"; exit 1; };; esac
echo "== $(date -u +%FT%TZ) $WORKLOAD: $HOSTS hosts x $FIELDS fields x $DURATION at $INTERVAL, $WRITERS writers x $BATCH lines"
for p in "${PEERS[@]}"; do
  echo; echo "================ $p  $(date -u +%T)"
  case $p in
    foresight) run_foresight ;;
    vm) run_vm ;;
    influx) run_influx ;;
    prom) run_prom ;;
    *) echo "unknown peer $p (foresight, vm, influx, prom)" ;;
  esac
done
if [ ${#REPORTS[@]} -gt 0 ]; then
  echo; echo "== foresight/peer ratios (samples/s: higher is better; the rest: lower is better)"
  "$FORESIGHT" bench --compare "${REPORTS[@]}" | tee "$OUT/table.md"
fi
