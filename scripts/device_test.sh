#!/usr/bin/env bash
# One device call: install carried wheels, build machete._C (linking prebuilt kernel objects when
# OBJS is set), run the GPU tests and a compute-sanitizer memcheck subset. Logs go to $OUT.
#   GEN=build/gen_x OBJS=build/objs_x TYPES=... SCHEDULES=... PYTEST_ARGS=... scripts/device_test.sh
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
source "$(dirname "$0")/device_env.sh" || exit 1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
t0=$(date +%s)
MACHETE_GEN_DIR=${GEN:-build/generated} MACHETE_PREBUILT_OBJS=${OBJS:-} MACHETE_TYPES=${TYPES:-} \
  MACHETE_SCHEDULES=${SCHEDULES:-} MAX_JOBS=${MAX_JOBS:-16} \
  timeout ${BUILD_TIMEOUT:-400} python3 setup.py -q build_ext --inplace > "$OUT/build.log" 2>&1
rc=$?; echo "BUILD rc=$rc in $(( $(date +%s) - t0 ))s"; [ $rc -eq 0 ] || { tail -40 "$OUT/build.log"; exit 1; }
python3 -c "import machete._C as C; print('schedules f16 u4b8:', C.supported_schedules(__import__('torch').float16, 0x4000000100400, __import__('torch').float16))"
t0=$(date +%s)
timeout ${TEST_TIMEOUT:-300} python3 -m pytest -q -p no:cacheprovider -o addopts="" tests/gpu tests/test_prepack_layout.py \
  --junitxml="$OUT/junit.xml" -k "${PYTEST_K:-}" ${PYTEST_ARGS:-} > "$OUT/pytest.log" 2>&1
echo "PYTEST rc=$? in $(( $(date +%s) - t0 ))s"; grep -E "passed|failed|error" "$OUT/pytest.log" | tail -3
grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -30
if [ "${SANITIZE:-1}" = 1 ]; then
  t0=$(date +%s)
  timeout ${SAN_TIMEOUT:-150} compute-sanitizer --tool memcheck --error-exitcode 3 python3 scripts/sanitize_subset.py > "$OUT/sanitizer.log" 2>&1
  echo "SANITIZER rc=$? in $(( $(date +%s) - t0 ))s"; tail -4 "$OUT/sanitizer.log"
fi
if [ "${BENCH:-0}" = 1 ]; then
  timeout ${BENCH_TIMEOUT:-90} python3 scripts/quick_bench.py > "$OUT/bench.log" 2>&1; echo "BENCH rc=$?"; cat "$OUT/bench.log" | tail -14
fi
