# Two commands for a newcomer: `make demo` and `make test`. Every target sets itself up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done

.PHONY: setup demo test sim bench model clean help

help:
	@echo "make demo   run the shipped MNIST model on the Verilator-simulated accelerator"
	@echo "make test   unit, golden-model and co-simulation tests (CI runs this)"
	@echo "make sim    the full cocotb co-simulation suite, Verilator and Icarus"
	@echo "make bench  whole-test-set runs, resource counts, sweeps (writes results/*.json)"
	@echo "make model  retrain models/mnist.snn from scratch"
	@echo "make setup  create .venv/ with the pinned dependencies (the others do it for you)"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found; install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@command -v iverilog >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "setup: installing Debian's iverilog"; \
	    (apt-get install -y -qq iverilog >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null && apt-get install -y -qq iverilog >/dev/null)); \
	  else \
	    echo "setup: Icarus Verilog is missing; run 'sudo apt-get install iverilog'" \
	         "(Icarus tests are skipped until then)"; \
	  fi; }
	@for tool in g++ make perl; do command -v $$tool >/dev/null || \
	  echo "setup: $$tool is missing; Verilator needs it: run 'sudo apt-get install g++ make perl'"; done
	touch $@

demo: setup
	$(PY) -m sw.demo

test: setup
	$(PY) -m pytest -q tests sim

sim: setup
	$(PY) -m pytest -q sim --sim-all

bench: setup
	$(PY) -m sw.bench

model: setup
	$(PY) -m sw.train --config configs/mnist.toml --output models/mnist.snn

clean:
	rm -rf build sim_build results .pytest_cache
