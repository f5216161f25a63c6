#!/usr/bin/env bash
# One device call: the CMake build (CMakeLists.txt + cmake/MacheteGen.cmake) of a filtered set --
# 6 types x (the 7 decode schedules + CUTLASS 128x16) -- with `cmake --build -j 16`, then the GPU
# suite against the extension CMake built (tests skip what is not built; the route pass maps the
# heuristic onto the built schedules). Carry .whl.
source "$(dirname "$0")/device_env.sh" || exit 1
rm -f machete/_C_ext*.so
TYPES="f16u4b8f16voidvoidvoidf16f32;bf16u4b8bf16voidvoidvoidbf16f32;f16u4f16f16voidvoidf16f32;bf16u4bf16bf16voidvoidbf16f32;f16u8f16f16voidvoidf16f32;bf16u8bf16bf16voidvoidbf16f32"
SCHED=$(python3 -c "import machete_ir.model as M; print(';'.join([s.name for s in M.DECODE_SCHEDULES] + ['128x16_1x1x1_TmaMI__TmaCoop_streamK']))")
t0=$(date +%s)
cmake -S . -B /tmp/cm -DPython3_EXECUTABLE="$(command -v python3)" -DMACHETE_TYPES="$TYPES" -DMACHETE_SCHEDULES="$SCHED" \
  > "$OUT/cmake_configure.log" 2>&1
echo "CONFIGURE rc=$? in $(( $(date +%s) - t0 ))s"
timeout ${BUILD_TIMEOUT:-330} cmake --build /tmp/cm -j 16 > "$OUT/cmake_build.log" 2>&1
rc=$?; echo "CMAKE BUILD rc=$rc in $(( $(date +%s) - t0 ))s"; ls machete/_C_ext*.so 2>&1
[ $rc -eq 0 ] || { tail -25 "$OUT/cmake_build.log"; exit 1; }
gpu_pytest "$OUT/pytest_cmake.log" ${TEST_TIMEOUT:-200} tests/gpu
