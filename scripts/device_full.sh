#!/usr/bin/env bash
# One device call, the product path: `pip install -e .` compiles every entry point for sm_90a
# (MAX_JOBS=16; MACHETE_TYPES / MACHETE_SCHEDULES filter as for setup.py), then the GPU suite
# (PYTEST_K selects) and a compute-sanitizer memcheck subset (SANITIZE=0 skips it). Meanwhile, on
# the idle cores, a hash-sharded compile of the default build for the shard cost-model fit
# (benchmarks/fit_shard_cost.py; HASH_BUILD=0 skips it). NCU=1 adds Nsight Compute on a small-M
# and a large-M call (NCU_CASES="M,N,K ..."). Logs go to $OUT, with the ninja log and per-file
# compile times where the build folder survives (pip's editable build deletes its temporary one).
# The final check before a release (formerly device_final.sh):
#   SANITIZE=0 HASH_BUILD=0 NCU=1 bash scripts/device_full.sh
source "$(dirname "$0")/device_env.sh" || exit 1
rm -rf build machete/_C_ext*.so
t0=$(date +%s); touch "$OUT/.build_start"
MAX_JOBS=${MAX_JOBS:-16} timeout ${BUILD_TIMEOUT:-420} python3 -m pip install --no-build-isolation --no-deps --no-index -e . > "$OUT/build.log" 2>&1
rc=$?; echo "BUILD (pip install -e ., MAX_JOBS=${MAX_JOBS:-16}) rc=$rc wall=$(( $(date +%s) - t0 ))s"
[ $rc -eq 0 ] || { tail -30 "$OUT/build.log"; exit 1; }
# the ninja log of this build: under build/, or setuptools' temporary build folder in /tmp
ninja_log=$(find build /tmp -name .ninja_log -newer "$OUT/.build_start" 2>/dev/null | head -1)
if [ -n "$ninja_log" ]; then
  cp "$ninja_log" "$OUT/ninja_log.txt"
  python3 scripts/ninja_times.py "$OUT/ninja_log.txt" | tee "$OUT/compile_times.txt"
else
  echo "no ninja log of this build found under build/ or /tmp"
fi
rm -f "$OUT/.build_start"
hash_pid=
if [ "${HASH_BUILD:-1}" = 1 ]; then
  python3 generate_machete.py --output-dir build/gen_hash --shard-policy hash > /dev/null
  ( bash scripts/compile_kernels.sh build/gen_hash build/objs_hash 8 > "$OUT/compile_hash.txt" 2>&1 ) &
  hash_pid=$!
fi
gpu_pytest "$OUT/pytest.log" ${TEST_TIMEOUT:-330} tests/gpu tests/test_prepack_layout.py -k "${PYTEST_K:-}"
if [ "${SANITIZE:-1}" = 1 ] && [ $SECONDS -lt ${SAN_IF_BEFORE:-430} ]; then
  memcheck "$OUT/sanitizer.log" ${SAN_TIMEOUT:-120}
fi
if [ "${NCU:-0}" = 1 ]; then
  # CUTLASS's kernels are device_kernel<...>, the decode family's decode_mm_ring_kernel; the
  # second matching launch of each case (scripts/ncu_case.py runs two) is profiled
  for c in ${NCU_CASES:-1,8192,28672 4096,8192,8192}; do
    echo "=== ncu M,N,K=$c" >> "$OUT/ncu.txt"
    timeout ${NCU_TIMEOUT:-60} ncu -k "${NCU_KERNEL:-regex:device_kernel|decode_mm_ring_kernel}" --launch-skip 1 \
      --launch-count 1 --section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats \
      --section LaunchStats --section Occupancy python3 scripts/ncu_case.py "$c" >> "$OUT/ncu.txt" 2>&1
    echo "ncu $c rc=$? at ${SECONDS}s"
  done
  grep -E "===|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Registers Per|Achieved Occupancy|Stall|Grid Size|Block Size|Shared Memory Config|Dynamic Shared" "$OUT/ncu.txt" | head -80
fi
if [ -n "$hash_pid" ]; then
  wait $hash_pid; echo "HASH BUILD rc=$?"; cat "$OUT/compile_hash.txt"
fi
echo "TOTAL ${SECONDS}s"
