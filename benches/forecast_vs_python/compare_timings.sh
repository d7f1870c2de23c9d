#!/usr/bin/env bash
# Kept for old links (benches/forecast.rs): the timing part of run.sh.
exec bash "$(dirname "$0")/run.sh" timing "$@"
