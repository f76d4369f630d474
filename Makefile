# Two commands on a fresh machine:  `make demo`  and  `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch is pinned to the CPU wheel available offline here; pyproject.toml accepts a range.
TORCH_PIN ?= torch==2.13.0

.PHONY: install install-gui demo demo-quick test test-all lint

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install "$(TORCH_PIN)"
	$(BIN)/pip install -e .

install-gui: $(BIN)/python
	$(BIN)/pip install "$(TORCH_PIN)"
	$(BIN)/pip install -e ".[gui,test,ray,openslide]"

demo: install
	$(BIN)/qsa demo

demo-quick: install
	$(BIN)/qsa demo --quick

test: install-gui
	bash .ci/install_system_deps.sh
	$(BIN)/python -m pytest -q

test-all: install-gui
	bash .ci/install_system_deps.sh
	$(BIN)/python -m pytest -q -m "slow or not slow"

lint: install-gui
	$(BIN)/ruff check qsa_gui plugins tests benchmarks
