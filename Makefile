# machete-gen: the two set-up commands are `make generate` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= build/generated
# torch==2.13.0 is the CPU build that lies on disk on the dev/CI machines (an unpinned torch pulls CUDA).
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.deps-stamp

.PHONY: generate test test-fast compile-check check-generated clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "attrs>=23" "cgen>=2020.1" "nvidia-cutlass==4.2.0.0" "pytest>=7" "syrupy>=4" "$(TORCH_PIN)"
	touch $(STAMP)

## Generate the Machete sources into $(OUT) (installs what it needs into $(VENV)).
generate: $(STAMP)
	$(PY) generate_machete.py --output-dir $(OUT) -v

## Run the test suite (CPU; GPU tests skip without CUDA; the nvcc compile check runs where nvcc is).
test: $(STAMP)
	$(PY) -m pytest -q tests

## Tests without the C++ compiles.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf build $(VENV) *.egg-info
