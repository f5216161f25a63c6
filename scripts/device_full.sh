#!/usr/bin/env bash
# One device call, the product path: `pip install -e .` compiles all 72 entry points for sm_90a
# (MAX_JOBS=16), then the GPU suite and a compute-sanitizer memcheck subset. Logs and the ninja
# log (per-file compile times) go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh" || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; nproc
rm -rf build machete/_C_ext*.so
t0=$(date +%s)
MAX_JOBS=${MAX_JOBS:-16} timeout ${BUILD_TIMEOUT:-420} python3 -m pip install --no-build-isolation --no-deps --no-index -e . > "$OUT/build.log" 2>&1
rc=$?; echo "BUILD (pip install -e ., MAX_JOBS=${MAX_JOBS:-16}) rc=$rc wall=$(( $(date +%s) - t0 ))s"
[ $rc -eq 0 ] || { tail -30 "$OUT/build.log"; exit 1; }
find build -name .ninja_log -exec cp {} "$OUT/ninja_log.txt" \;
python3 scripts/ninja_times.py "$OUT/ninja_log.txt" | tee "$OUT/compile_times.txt"
# meanwhile, on the idle cores: a hash-sharded build (uneven kernel counts) for the cost-model fit
python3 generate_machete.py --output-dir build/gen_hash --shard-policy hash > /dev/null
( bash scripts/compile_kernels.sh build/gen_hash build/objs_hash 8 > "$OUT/compile_hash.txt" 2>&1 ) &
hash_pid=$!
t0=$(date +%s)
timeout ${TEST_TIMEOUT:-330} python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/gpu tests/test_prepack_layout.py \
  -k "${PYTEST_K:-}" > "$OUT/pytest.log" 2>&1
echo "PYTEST rc=$? in $(( $(date +%s) - t0 ))s"; grep -E "passed|failed|error" "$OUT/pytest.log" | tail -2
grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -20
if [ "${SANITIZE:-1}" = 1 ] && [ $SECONDS -lt ${SAN_IF_BEFORE:-430} ]; then
  t0=$(date +%s)
  timeout ${SAN_TIMEOUT:-120} compute-sanitizer --tool memcheck --error-exitcode 3 python3 scripts/sanitize_subset.py > "$OUT/sanitizer.log" 2>&1
  echo "SANITIZER rc=$? in $(( $(date +%s) - t0 ))s"; tail -3 "$OUT/sanitizer.log"
fi
wait $hash_pid; echo "HASH BUILD rc=$?"; cat "$OUT/compile_hash.txt"
echo "TOTAL ${SECONDS}s"
