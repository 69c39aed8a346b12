#!/usr/bin/env bash
# The benchmarks at the Qwen2.5-7B shape (random init, no download) in bf16 on one GPU, ~8 minutes:
# probe overhead (LAPE/PLND vs a plain forward), SLAM vs full step time and peak memory, and the
# rl-train step vs TRL GRPOTrainer with hf rollouts (with its phase breakdown). See bench/gpu/README.md.
#
#   bash bench/gpu/run.sh                                               # GPU, qwen2.5-7b, bf16
#   BENCH_SHAPE=qwen2.5-0.5b BENCH_DEVICE=cpu bash bench/gpu/run.sh     # CPU proof run (float32, small work)
#
# Environment: BENCH_SHAPE (a bench/finetune_step.py SHAPES name), BENCH_DEVICE (cuda | cpu),
# BENCH_DTYPE (default bfloat16 on cuda, float32 on cpu), BENCH_OUT (results folder), BENCH_TIMEOUT (seconds
# per script before it is killed, default 420), PYTHON.
set -euo pipefail
cd "$(dirname "$0")/../.."
SHAPE=${BENCH_SHAPE:-qwen2.5-7b}
DEVICE=${BENCH_DEVICE:-cuda}
if [ "$DEVICE" = cpu ]; then DTYPE=${BENCH_DTYPE:-float32}; else DTYPE=${BENCH_DTYPE:-bfloat16}; fi
OUT=${BENCH_OUT:-bench-results/gpu-$SHAPE}
PYTHON=${PYTHON:-python}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}

if [ "$DEVICE" = cpu ]; then   # the CPU-sized settings run_all uses for a real shape (SIZES)
  PROBE="" FINETUNE="" RL=""
else                           # sized so the three scripts finish in ~8 minutes on one H100/H200
  PROBE="--docs 64,256 --batch-size 16 --seq-len 512 --repeats 2"
  FINETUNE="--steps 3 --warmup 1 --batch-size 2 --seq-len 512 --layers 0-5 --gradient-checkpointing"
  RL="--steps 2 --warmup 1 --rounds 1 --prompts 2 --group 8 --completion-tokens 128"
fi
"$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(),
      torch.cuda.get_device_name() if torch.cuda.is_available() else '')"
exec "$PYTHON" bench/run_all.py --shapes "$SHAPE" --device "$DEVICE" --dtype "$DTYPE" --no-vllm \
  --only probe,finetune,rl --out "$OUT" --timeout "${BENCH_TIMEOUT:-420}" \
  --args probe="$PROBE" --args finetune="$FINETUNE" --args rl="$RL"
