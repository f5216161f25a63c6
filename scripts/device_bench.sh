#!/usr/bin/env bash
# One device call: link machete._C_ext from kernel objects built here (scripts/compile_kernels.sh
# build/generated build/objs; OBJS=DIR for others), then the benchmark over the SPEC §7 grid
# (docs/SPEC.md: u4b8 f16 with the per-schedule sweep, the other types heuristic-only) and the
# held-out sweep the tuner is scored on (HELDOUT=0 skips it and the fit). TESTS=1 runs the GPU
# suite and scripts/host_overhead.py --host-only first. Results in $OUT/spec, $OUT/heldout.
source "$(dirname "$0")/device_env.sh" || exit 1
mkdir -p "$OUT/spec" "$OUT/heldout"
link_prebuilt "${OBJS:-build/objs}" /tmp/link.log 200 16 || exit 1
if [ "${TESTS:-0}" = 1 ]; then
  gpu_pytest "$OUT/pytest.log" 200 tests/gpu tests/test_prepack_layout.py
  timeout 60 python3 scripts/host_overhead.py --host-only
fi
B="python3 benchmarks/bench_mm.py --target-ms ${TARGET_MS:-15}"
$B --out-dir "$OUT/spec" --types u4b8-g128-f16 --time-budget ${T1:-200} > /dev/null
echo "SPEC sweep done at ${SECONDS}s"
$B --out-dir "$OUT/spec" --resume --no-sweep --time-budget ${T2:-130} > /dev/null
echo "SPEC other types done at ${SECONDS}s"
[ "${HELDOUT:-1}" = 1 ] && $B --out-dir "$OUT/heldout" --shapes heldout --m 1,16,64,256,1024,4096 --types u4b8-g128-f16 --no-int4pack \
   --time-budget ${T3:-110} > /dev/null
rm -f "$OUT/heldout/results.png" "$OUT/heldout/results.md" "$OUT/heldout/log.txt"
echo "HELDOUT done at ${SECONDS}s"
[ "${HELDOUT:-1}" = 1 ] && python3 benchmarks/tune.py fit --events "$OUT/spec/events.jsonl" --out "$OUT/h100_tuned.json" &&
python3 benchmarks/tune.py score --events "$OUT/heldout/events.jsonl" --table "$OUT/h100_tuned.json"
tail -40 "$OUT/spec/results.md"
