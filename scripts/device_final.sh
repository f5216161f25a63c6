#!/usr/bin/env bash
# Final check on the H100: the product build (pip install -e ., all 72 entry points, current
# generator layout), the GPU suite, and Nsight Compute on a small-M and a large-M kernel.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh" || exit 1
rm -rf build machete/_C_ext*.so
t0=$(date +%s)
MAX_JOBS=16 timeout 420 python3 -m pip install --no-build-isolation --no-deps --no-index -e . > "$OUT/build.log" 2>&1
rc=$?; echo "BUILD (pip install -e ., MAX_JOBS=16) rc=$rc wall=$(( $(date +%s) - t0 ))s"; [ $rc -eq 0 ] || { tail -30 "$OUT/build.log"; exit 1; }
timeout 200 python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/gpu tests/test_prepack_layout.py > "$OUT/pytest.log" 2>&1
echo "PYTEST rc=$? at ${SECONDS}s"; grep -E "passed|failed" "$OUT/pytest.log" | tail -1; grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head
for c in 1,8192,28672 4096,8192,8192; do
  echo "=== ncu M,N,K=$c" >> "$OUT/ncu.txt"
  timeout 60 ncu -k regex:device_kernel --launch-skip 1 --launch-count 1 --section SpeedOfLight \
    --section MemoryWorkloadAnalysis --section WarpStateStats --section LaunchStats --section Occupancy \
    python3 scripts/ncu_case.py $c >> "$OUT/ncu.txt" 2>&1
  echo "ncu $c rc=$? at ${SECONDS}s"
done
grep -E "===|Duration|Memory Throughput|DRAM Throughput|Compute \(SM\) Throughput|Registers Per|Achieved Occupancy|Stall|Grid Size|Block Size|Shared Memory Config|Dynamic Shared" "$OUT/ncu.txt" | head -80
