# Two commands do all the set-up on a fresh machine:
#   make demo   - install into .venv and run the demo on a local store
#   make test   - install into .venv and run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

.PHONY: demo test bench install
install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/spikestore demo

# import contracts first (.importlinter: no cycles, no upward imports; under a second);
# two workers: the suite is CPU-bound (moto's S3 server, codecs) and CI has two cores
test: $(VENV)/.installed
	$(VENV)/bin/lint-imports --no-cache && $(PY) -m pytest -q -n 2

bench: $(VENV)/.installed
	$(PY) -m benchmarks --scale small
