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

# import contracts first (.importlinter: no cycles, no upward imports; under a second),
# then the type checker ([tool.mypy] in pyproject.toml; about 30 s of CPU on a fresh
# checkout, a second or two once .mypy_cache holds the third-party stubs);
# two workers: the suite is CPU-bound (moto's S3 server, codecs) and CI has two cores
test: $(VENV)/.installed
	$(VENV)/bin/lint-imports --no-cache && $(VENV)/bin/mypy spikestore && $(PY) -m pytest -q -n 2

bench: $(VENV)/.installed
	$(PY) -m benchmarks --scale small
