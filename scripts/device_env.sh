# Sourced by the scripts/device_*.sh runs on the GPU machine: install the carried wheels (.whl:
# nvidia-cutlass, cgen, pytools, ...) into /tmp/site and put them and the checkout on PYTHONPATH.
# Returns non-zero when the wheels do not install.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || return 1
export PYTHONPATH=/tmp/site:$PWD/.whl/site:$PWD PYTHONUNBUFFERED=1
