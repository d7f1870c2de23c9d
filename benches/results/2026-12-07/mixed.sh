#!/usr/bin/env bash
# Mixed run: the live `foresight bench` workload alone, then with one backfilling writer
# (bench.py sending a year of older history) at the same time. Loopback only, bounded.
set -u
F=/work/main/target/release/foresight
run() {  # run LABEL BACKFILL(0|1)
  rm -rf /tmp/mixed-data; mkdir -p /tmp/mixed-data
  $F serve --data-dir /tmp/mixed-data --listen 127.0.0.1:18086 > /tmp/mixed-$1.log 2>&1 &
  local pid=$!
  sleep 2
  local bf=""
  if [ "$2" = 1 ]; then
    python3 /work/shared/peers/bench.py ingest http://127.0.0.1:18086 /tmp/year.lp --flavor influx1 --db bench \
      --precision s --batch 5000 --concurrency 1 --max-seconds 6 --label backfill > /tmp/mixed-bf.txt 2>&1 &
    bf=$!
  fi
  # Live data starts 2025-01-01, after every backfilled sample.
  $F --data-dir /tmp/mixed-data bench --target http://127.0.0.1:18086 --pid $pid --start 1735689600 \
    --hosts 100 --fields 10 --duration 24h --quiet --no-constants --queries q1 --query-reps 1 \
    --report /tmp/mixed-$1.json > /tmp/mixed-$1.txt 2>&1
  [ -n "$bf" ] && wait $bf
  kill $pid; wait $pid 2>/dev/null
}
run alone 0; run mixed 1; run alone2 0

