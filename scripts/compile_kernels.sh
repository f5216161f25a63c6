#!/usr/bin/env bash
# Compile the generated kernel translation units to objects (no torch needed), -j$JOBS at a time.
# usage: scripts/compile_kernels.sh GEN_DIR OBJ_DIR [JOBS]
set -euo pipefail
GEN=${1:?generated dir}; OBJ=${2:?object dir}; JOBS=${3:-2}
PY=${PYTHON:-python3}
CUTLASS=$($PY -c "import cutlass_library; print(cutlass_library.source_path)")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$OBJ"
export GEN OBJ CUTLASS ROOT
ls "$GEN"/*.cu | xargs -P "$JOBS" -I{} bash -c '
  f={}; b=$(basename "$f" .cu); t0=$(date +%s)
  if nvcc -c -gencode=arch=compute_90a,code=sm_90a -std=c++17 --expt-relaxed-constexpr -O3 -DNDEBUG \
      -Xcompiler -fPIC -I"$ROOT/csrc" -I"$CUTLASS/include" -I"$CUTLASS/tools/util/include" \
      -o "$OBJ/$b.o" "$f" > "$OBJ/$b.log" 2>&1; then
    echo "ok   $b $(( $(date +%s) - t0 ))s"
  else
    echo "FAIL $b $(( $(date +%s) - t0 ))s (see $OBJ/$b.log)"; exit 1
  fi'
