# Two entry points: `make demo` and `make test`. Each creates .venv if missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
# The lab extension is built by the package's build hook (hatch-jupyter-builder, npm); a change to its
# sources reinstalls, and removing the old build makes the hook build it again.
LAB_SOURCES := $(wildcard labextension/src/*.ts labextension/style/*) labextension/package.json labextension/package-lock.json

.PHONY: demo test lint bench clean chromium arm-tools tflm-library

# The TFLite Micro Arduino library the firmware is built against is the one a person installs (arduino-cli, the
# IDE, PlatformIO); CI and a checkout beside ../shared use the unchanged copy in ../shared/third_party.
SHARED_TFLM := $(abspath ../shared/third_party/Chirale_TensorFlowLite)
ifneq ($(wildcard $(SHARED_TFLM)/library.properties),)
export TINYML_TFLM_LIBRARY ?= $(SHARED_TFLM)
endif

$(STAMP): pyproject.toml $(LAB_SOURCES)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	rm -rf jupyter_tinyml/labextension
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[ml,test]'
	touch $(STAMP)

# Debian's Chromium for the browser tests (tests/test_lab_browser.py); they skip where it cannot be had
# (not root), except under CI=true, where they fail.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; \
	  else echo "chromium is not installed and this is not root: the browser tests will skip"; fi; }

# Debian's Arm cross compiler, newlib and QEMU for the virtual board (tests/test_virtual_board.py), and the host's
# g++ for the tests that compile and run generated headers here (tests/test_user_files.py): same pattern.
ARM_TOOLS := gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm g++
arm-tools:
	@{ command -v arm-none-eabi-gcc && command -v qemu-system-arm && command -v g++ && \
	   test -f /usr/lib/arm-none-eabi/newlib/libc_nano.a && test -f /usr/lib/arm-none-eabi/newlib/libstdc++.a; } >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(ARM_TOOLS) >/dev/null; \
	  else echo "$(ARM_TOOLS) are not installed and this is not root: the virtual board tests will skip"; fi; }

demo: $(STAMP) arm-tools
	LITELLM_LOCAL_MODEL_COST_MAP=True $(PY) scripts/run_demo.py

# The lab extension's lint: eslint and prettier with the JupyterLab extension template's configuration
# (labextension/eslint.config.mjs, the "prettier" key of its package.json). Making $(STAMP) runs the build hook's
# `npm install` in labextension/; `npm ci` installs the tools where that has not happened.
lint: $(STAMP)
	cd labextension && { test -x node_modules/.bin/eslint || npm ci --no-audit --no-fund; } && npm run --silent lint:check

# The TFLite Micro library compiled for the virtual board (both kernel flavours) into the user cache, once per machine
# (about 4 minutes on 2 cores the first time, nothing after): done before the tests, whose per-test time limit a first
# build would exceed.
tflm-library: $(STAMP) arm-tools
	@if [ -n "$$TINYML_TFLM_LIBRARY" ]; then $(PY) -m jupyter_tinyml.hardware.virtual.archive; fi

# One worker per core, a test file per worker (its module fixtures stay once per file): most of the suite waits on
# kernels, JupyterLab, Chromium and QEMU, so two cores run it in about 60% of the serial time.
test: $(STAMP) lint chromium arm-tools tflm-library
	LITELLM_LOCAL_MODEL_COST_MAP=True $(PY) -m pytest -q -n auto --dist loadfile --durations=15

bench: $(STAMP)
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf build .pytest_cache labextension/lib labextension/build-test labextension/tsconfig.tsbuildinfo
