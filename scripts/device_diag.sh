#!/usr/bin/env bash
# One device call: link prebuilt kernels, then scripts/host_overhead.py.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh" || exit 1
MACHETE_PREBUILT_OBJS=${OBJS:-build/objs} MAX_JOBS=16 timeout 200 python3 setup.py -q build_ext --inplace > /tmp/link.log 2>&1 || { tail -20 /tmp/link.log; exit 1; }
echo "LINK done at ${SECONDS}s"
timeout 300 python3 scripts/host_overhead.py 2>&1 | tee "$OUT/host_overhead.txt"
