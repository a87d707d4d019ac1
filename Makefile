# Two entry points: `make demo` and `make test`. Each creates .venv if missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[ml,test]'
	touch $(STAMP)

demo: $(STAMP)
	LITELLM_LOCAL_MODEL_COST_MAP=True $(PY) scripts/run_demo.py

test: $(STAMP)
	LITELLM_LOCAL_MODEL_COST_MAP=True $(PY) -m pytest -q

bench: $(STAMP)
	for script in bench/bench_*.py; do $(PY) $$script || exit 1; done

clean:
	rm -rf build .pytest_cache
