#!/usr/bin/env bash
# Compile the generated kernel translation units to objects (no torch needed), -j$JOBS at a time,
# with the flags of machete_gen/build_flags.py (+ -Xcompiler -fPIC: setup.py links them into the
# extension with MACHETE_PREBUILT_OBJS=OBJ_DIR).
# usage: scripts/compile_kernels.sh GEN_DIR OBJ_DIR [JOBS]
set -euo pipefail
GEN=${1:?generated dir}; OBJ=${2:?object dir}; JOBS=${3:-2}
PY=${PYTHON:-python3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t FLAGS < <(cd "$ROOT" && "$PY" -m machete_gen.build_flags --pic --lines)
[ ${#FLAGS[@]} -gt 0 ] || { echo "compile_kernels.sh: no flags from machete_gen.build_flags" >&2; exit 1; }
mkdir -p "$OBJ"
export OBJ
# each file: `bash -c SCRIPT _ FILE FLAG...`
ls "$GEN"/*.cu | xargs -P "$JOBS" -I{} bash -c '
  f=$1; shift; b=$(basename "$f" .cu); t0=$(date +%s)
  if nvcc -c "$@" -o "$OBJ/$b.o" "$f" > "$OBJ/$b.log" 2>&1; then
    echo "ok   $b $(( $(date +%s) - t0 ))s"
  else
    echo "FAIL $b $(( $(date +%s) - t0 ))s (see $OBJ/$b.log)"; exit 1
  fi' _ {} "${FLAGS[@]}"
