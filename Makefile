# Two commands on a fresh machine:  make run  (the default experiment)  and  make test  (the test suite).
# Each sets up what it needs: Debian's Fashion-MNIST where apt is there, a virtual environment in
# .venv with torch and clbench. Set PYTHON to choose the interpreter (3.10 or newer).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.14.1 torchvision==0.29.1
FASHION_MNIST := /usr/share/datasets/fashion-mnist

.PHONY: setup run test data

run: setup
	$(BIN)/clbench run --strategy nanoadam
	$(BIN)/clbench run --strategy adamw

test: setup
	$(BIN)/pytest -q

setup: $(BIN)/clbench data

# A plain (non-editable) install, redone whenever a source file changes: tests run what users get.
$(BIN)/clbench: pyproject.toml $(shell find clbench tasks strategies -name '*.py')
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q ".[test]"
	touch $@

# Fashion-MNIST from Debian when apt is there; otherwise clbench downloads it on first use.
data:
	@if [ ! -d $(FASHION_MNIST) ] && command -v apt-get >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q dataset-fashion-mnist || $$SUDO sh -c 'apt-get update -q && apt-get install -y -q dataset-fashion-mnist'; \
	fi
