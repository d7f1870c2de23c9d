#!/usr/bin/env bash
# Kept for old links: the accuracy part of run.sh.
exec bash "$(dirname "$0")/run.sh" accuracy "$@"
