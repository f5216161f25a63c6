#!/usr/bin/env bash
# One device call on kernel objects compiled on the dev machine (`scripts/compile_kernels.sh
# build/generated build/objs`; OBJS=DIR for others): link machete._C_ext, the GPU suite (TESTS=0
# skips it, TEST_PATHS replaces its paths), a compute-sanitizer memcheck subset (SANITIZE=0), the
# vLLM peer kits built from .peers/ in the background (PEERS=0), then BENCH and DEV, two commands
# run as given (e.g. BENCH='python3 benchmarks/bench_mm.py --peers marlin,vllm_machete ...',
# DEV='python3 scripts/host_overhead.py'). Full logs under $OUT; short summaries printed.
# Carry: .whl (nvidia-cutlass, cgen, pytools, platformdirs, siphash24, syrupy), build (objs +
# generated; or COMPILE=N to build them there), .peers (optional), .devbuild (optional: decode
# dev-harness libraries).
source "$(dirname "$0")/device_env.sh" || exit 1

# the peers build in the background (16 cores; ~80 s + ~18 s alone)
( [ "${PEERS:-1}" = 1 ] || exit 0; for k in vllm_marlin vllm_machete; do
    if [ -d ".peers/$k" ]; then
      WHL_DIR=$PWD/.whl MAX_JOBS=8 bash ".peers/$k/build.sh" > "$OUT/peer_$k.log" 2>&1
      echo "peer $k build rc=$?" >> "$OUT/peers.txt"
    fi
  done ) &
peers_pid=$!

# COMPILE=N: generate (with the MACHETE_TYPES / MACHETE_SCHEDULES / MACHETE_W4A8 that setup.py's link
# step will use too) and compile the kernels here, N at a time, instead of carrying the objects
if [ -n "${COMPILE:-}" ]; then
  t0=$(date +%s)
  gen_args=(--output-dir build/generated)
  [ -n "${MACHETE_TYPES:-}" ] && gen_args+=(--types "$MACHETE_TYPES")
  [ -n "${MACHETE_SCHEDULES:-}" ] && gen_args+=(--schedules "$MACHETE_SCHEDULES")
  [ "${MACHETE_W4A8:-0}" != 0 ] && gen_args+=(--w4a8)
  rm -rf build/generated "${OBJS:-build/objs}"
  python3 generate_machete.py "${gen_args[@]}" > "$OUT/gen.log" 2>&1 &&
    bash scripts/compile_kernels.sh build/generated "${OBJS:-build/objs}" "$COMPILE" > "$OUT/compile.log" 2>&1
  rc=$?; echo "COMPILE rc=$rc in $(( $(date +%s) - t0 ))s"; [ $rc -eq 0 ] || { tail -30 "$OUT/compile.log"; cat "${OBJS:-build/objs}"/*.log | grep -m5 error; exit 1; }
fi

link_prebuilt "${OBJS:-build/objs}" "$OUT/link.log" 240 8 || exit 1

# TEST_PATHS is split on blanks on purpose
[ "${TESTS:-1}" = 1 ] && gpu_pytest "$OUT/pytest.log" ${TEST_TIMEOUT:-260} ${TEST_PATHS:-tests/gpu tests/test_prepack_layout.py}
[ "${SANITIZE:-1}" = 1 ] && memcheck "$OUT/memcheck.log" ${MEMCHECK_TIMEOUT:-100}
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
