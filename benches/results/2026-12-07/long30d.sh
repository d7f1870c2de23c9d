#!/usr/bin/env bash
# q1-q8 on 30 days of data (100 hosts x 10 fields at 60 s = 43.2 M samples), before and after long
# blocks; loopback only, bounded by the bench's own limits.
set -u
one() {  # one LABEL BINARY
  rm -rf /tmp/longq-data; mkdir -p /tmp/longq-data
  $2 serve --data-dir /tmp/longq-data --listen 127.0.0.1:18086 > /tmp/longq-$1.log 2>&1 &
  local pid=$!
  sleep 2
  $2 --data-dir /tmp/longq-data bench --target http://127.0.0.1:18086 --pid $pid --hosts 100 --fields 10 \
    --interval 60s --duration 30d --flush auto --settle 120s --settle-stable 10s --quiet --no-constants \
    --label $1 --report /tmp/longq-$1.json > /tmp/longq-$1.txt 2>&1
  ls /tmp/longq-data/blocks | wc -l > /tmp/longq-$1.blocks
  kill $pid; wait $pid 2>/dev/null
}

one after /work/main/target/release/foresight
/work/main/target/release/foresight bench --compare /tmp/longq-after.json /tmp/longq-before.json > /tmp/longq-table.md
