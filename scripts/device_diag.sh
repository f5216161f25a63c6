#!/usr/bin/env bash
# One device call: link prebuilt kernels, then scripts/host_overhead.py.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/.whl/site:$PWD PYTHONUNBUFFERED=1
MACHETE_PREBUILT_OBJS=${OBJS:-build/objs} MAX_JOBS=16 timeout 200 python3 setup.py -q build_ext --inplace > /tmp/link.log 2>&1 || { tail -20 /tmp/link.log; exit 1; }
echo "LINK done at ${SECONDS}s"
timeout 300 python3 scripts/host_overhead.py 2>&1 | tee "$OUT/host_overhead.txt"
