#!/usr/bin/env bash
# One device call for the decode family: link machete._C_ext from kernel objects compiled on the
# dev machine (`scripts/compile_kernels.sh build/generated build/objs`), the GPU suite, a
# compute-sanitizer memcheck subset, the vLLM peer kits (copied into .peers/, bench-only) and the
# side-by-side benchmark (bench_mm.py --peers). Full logs under $OUT; short summaries printed.
# Carry: .whl (nvidia-cutlass, cgen, pytools, platformdirs, siphash24, syrupy), build (objs +
# generated), .peers, .devbuild (optional: decode dev-harness libraries).
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

# the peers build in the background (16 cores; ~80 s + ~18 s alone)
( [ "${PEERS:-1}" = 1 ] || exit 0; for k in vllm_marlin vllm_machete; do
    if [ -d ".peers/$k" ]; then
      WHL_DIR=$PWD/.whl MAX_JOBS=8 bash ".peers/$k/build.sh" > "$OUT/peer_$k.log" 2>&1
      echo "peer $k build rc=$?" >> "$OUT/peers.txt"
    fi
  done ) &
peers_pid=$!

t0=$(date +%s)
rm -f machete/_C_ext*.so
MACHETE_PREBUILT_OBJS=build/objs MAX_JOBS=8 timeout 240 python3 setup.py build_ext --inplace > "$OUT/link.log" 2>&1
rc=$?; echo "LINK rc=$rc in $(( $(date +%s) - t0 ))s"; [ $rc -eq 0 ] || { tail -30 "$OUT/link.log"; exit 1; }

if [ "${TESTS:-1}" = 1 ]; then
  timeout ${TEST_TIMEOUT:-260} python3 -m pytest -q -p no:cacheprovider -o addopts="" ${TEST_PATHS:-tests/gpu tests/test_prepack_layout.py} \
    > "$OUT/pytest.log" 2>&1
  echo "PYTEST rc=$? at ${SECONDS}s: $(grep -E 'passed|failed' "$OUT/pytest.log" | tail -1)"
  grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -20
fi
if [ "${SANITIZE:-1}" = 1 ]; then
  timeout ${MEMCHECK_TIMEOUT:-100} compute-sanitizer --tool memcheck --print-limit 20 python3 scripts/sanitize_subset.py > "$OUT/memcheck.log" 2>&1
  echo "MEMCHECK rc=$? at ${SECONDS}s: $(grep -E 'ERROR SUMMARY|sanitize_subset' "$OUT/memcheck.log" | tr '\n' ' ')"
fi
wait $peers_pid; cat "$OUT/peers.txt" 2>/dev/null
if [ -n "${BENCH:-}" ]; then
  eval "$BENCH"
  echo "BENCH rc=$? at ${SECONDS}s"
fi
if [ -n "${DEV:-}" ]; then
  eval "$DEV"
  echo "DEV rc=$? at ${SECONDS}s"
fi
# at most 8 files come back from the device tool: pack the secondary logs into one archive
( cd "$OUT" && tar czf misc_logs.tgz --ignore-failed-read peer_*.log link.log peers.txt bench_stdout.txt bench/log.txt 2>/dev/null;
  rm -f peer_*.log link.log peers.txt bench_stdout.txt bench/log.txt )
ls -R "$OUT" | head -30
