# machete-gen: the two set-up commands are `make generate` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
OUT ?= build/generated
# torch==2.13.0 is the CPU build that lies on disk on the dev/CI machines (an unpinned torch pulls CUDA).
TORCH_PIN ?= torch==2.13.0
# Must equal the pin in setup.cfg's install_requires (tests/test_packaging.py checks).
CUTLASS_PIN := nvidia-cutlass==4.2.0.0
# The checkpoint formats' own libraries, for tests/test_formats.py (which skips what is missing).
# compressed-tensors is pure Python (its dependencies are light; torch is already there). AutoAWQ and
# AutoGPTQ go in without their dependencies (they would pull CUDA torch): the tests load only their
# packing modules; accelerate is what those modules import.
FORMAT_LIBS ?= compressed-tensors==0.20.0
FORMAT_LIBS_NODEPS ?= autoawq==0.2.9 auto-gptq==0.7.1 accelerate==1.15.0
STAMP := $(VENV)/.deps-stamp

.PHONY: generate test test-fast compile-check check-generated clean manifest scalar-header

$(STAMP): setup.cfg pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "attrs>=23" "cgen>=2020.1" "$(CUTLASS_PIN)" "pytest>=7" "syrupy>=4" "matplotlib>=3.5" "$(TORCH_PIN)"
	$(PY) -m pip install -q $(FORMAT_LIBS) "$(TORCH_PIN)" \
	  || echo "machete-gen: $(FORMAT_LIBS) did not install; its format tests will skip"
	$(PY) -m pip install -q --no-deps --no-build-isolation $(FORMAT_LIBS_NODEPS) \
	  || echo "machete-gen: AutoAWQ / AutoGPTQ did not install; their format tests will skip"
	touch $(STAMP)

## Generate the Machete sources into $(OUT) (installs what it needs into $(VENV)).
generate: $(STAMP)
	$(PY) generate_machete.py --output-dir $(OUT) -v

## Refresh machete/_build_manifest.json (the full default build's manifest, shipped with the package).
manifest: $(STAMP)
	$(PY) generate_machete.py --output-dir $(OUT)
	cp $(OUT)/machete_build_manifest.json machete/_build_manifest.json

## Reprint csrc/machete/scalar_kind.h from the scalar table (machete/_scalar_table.py; a test fails when it is stale).
scalar-header: $(STAMP)
	$(PY) generate_machete.py --scalar-header csrc/machete/scalar_kind.h

## Run the test suite (CPU; GPU tests skip without CUDA; the nvcc compile check runs where nvcc is).
test: $(STAMP)
	$(PY) -m pytest -q tests

## Tests without the C++ compiles.
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests

clean:
	rm -rf build $(VENV) *.egg-info
