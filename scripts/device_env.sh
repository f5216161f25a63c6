# The one preamble of the scripts/device_*.sh runs on the GPU machine (`source` it; it returns
# non-zero when the carried wheels do not install). It
#  - moves to the repository root, sets `-uo pipefail`, creates $OUT (default /tmp/out);
#  - installs the carried wheels (.whl: nvidia-cutlass, cgen, pytools, platformdirs, siphash24,
#    syrupy) into /tmp/site and puts /tmp/site, .whl/site and the checkout on PYTHONPATH;
#  - prints the GPU, its driver and memory, and the CPU count;
#  - defines the steps the scripts share:
#      link_prebuilt OBJS LOG [TIMEOUT] [JOBS]  machete._C_ext from kernel objects OBJS/*.o
#                                               (scripts/compile_kernels.sh) + the binding
#      gpu_pytest LOG TIMEOUT PYTEST_ARGS...    the GPU tests under a timeout, a summary line
#      memcheck LOG TIMEOUT                     compute-sanitizer memcheck of scripts/sanitize_subset.py
# Each step prints one `NAME rc=N in Ss` line; the full output goes to LOG.
cd "$(dirname "${BASH_SOURCE[0]}")/.." || return 1
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || return 1
export PYTHONPATH=/tmp/site:$PWD/.whl/site:$PWD PYTHONUNBUFFERED=1
echo "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader), $(nproc) CPUs"

link_prebuilt() {
  local objs=$1 log=$2 limit=${3:-240} jobs=${4:-8} t0 rc
  t0=$(date +%s)
  rm -f machete/_C_ext*.so
  MACHETE_PREBUILT_OBJS=$objs MAX_JOBS=$jobs timeout "$limit" python3 setup.py build_ext --inplace > "$log" 2>&1
  rc=$?; echo "LINK rc=$rc in $(( $(date +%s) - t0 ))s"
  [ $rc -eq 0 ] || tail -30 "$log"
  return $rc
}

gpu_pytest() {
  local log=$1 limit=$2 t0 rc; shift 2
  t0=$(date +%s)
  timeout "$limit" python3 -m pytest -q -p no:cacheprovider -o addopts="" "$@" > "$log" 2>&1
  rc=$?; echo "PYTEST rc=$rc in $(( $(date +%s) - t0 ))s: $(grep -E 'passed|failed|error' "$log" | tail -1)"
  grep -E "^(FAILED|ERROR)" "$log" | head -20
  return $rc
}

memcheck() {
  local log=$1 limit=$2 t0 rc
  t0=$(date +%s)
  timeout "$limit" compute-sanitizer --tool memcheck --error-exitcode 3 --print-limit 20 \
    python3 scripts/sanitize_subset.py > "$log" 2>&1
  rc=$?; echo "MEMCHECK rc=$rc in $(( $(date +%s) - t0 ))s: $(grep -E 'ERROR SUMMARY|sanitize_subset' "$log" | tr '\n' ' ')"
  return $rc
}
