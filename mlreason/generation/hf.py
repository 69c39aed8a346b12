"""transformers backend: batched `model.generate` with left padding, n samples, stop strings.

    from mlreason.generation import SamplingParams, make_generator
    gen = make_generator("hf", "artifacts/tiny/qwen2", batch_size=8)
    outs = gen.generate(["Q: 2+2?\nA:"], SamplingParams(n=4, temperature=1.0, seed=1, stop=("\n",)))

With `images=` (one per prompt), a VLM's processor encodes each (text, image) pair instead
(`pixel_values` reach `model.generate`); the prompt gets the processor's image placeholder in front
unless a chat template already wrote it.
Results follow vLLM's conventions so the backends are interchangeable: text without special
tokens and cut before the first stop string; token_ids up to and including the token that
ended generation; finish_reason "stop" or "length". Sampling is seeded per batch inside a forked
RNG, so an identical call gives identical samples and the caller's RNG stream is untouched.
"""

from __future__ import annotations

from collections.abc import Collection
from contextlib import nullcontext
from typing import Any

import torch

from mlreason.errors import UserError
from mlreason.generation.base import Completion, SamplingParams, encode_prompts
from mlreason.models import load_model, load_tokenizer


class HFGenerator:
    """Generator backed by a transformers causal LM held in this process."""

    def __init__(
        self,
        model_path: str,
        *,
        model: Any = None,
        tokenizer: Any = None,
        dtype: str = "auto",
        device: str = "cpu",
        batch_size: int = 16,
        show_progress: bool = True,
        trust_remote_code: bool = False,
    ) -> None:
        self.model_path, self.trust_remote_code, self.processor = model_path, trust_remote_code, None
        self.tokenizer = tokenizer or load_tokenizer(model_path, padding_side="left",
                                                     trust_remote_code=trust_remote_code)
        self.model = model if model is not None else load_model(model_path, dtype=dtype, device=device,
                                                               trust_remote_code=trust_remote_code)
        self.batch_size = max(1, batch_size)
        self.show_progress = show_progress
        self.eos_ids = self._eos_ids()

    def _eos_ids(self) -> list[int]:
        """Every id that ends a sequence: the model's generation config plus the tokenizer's eos."""
        ids = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids = [ids] if isinstance(ids, int) else list(ids or [])
        if self.tokenizer.eos_token_id is not None and self.tokenizer.eos_token_id not in ids:
            ids.append(self.tokenizer.eos_token_id)
        return ids

    def generate(self, prompts: list[str], sampling: SamplingParams,
                 images: list[Any] | None = None) -> list[list[Completion]]:
        if not prompts:
            return []
        if images is not None and any(x is not None for x in images):
            return self._generate_images(prompts, images, sampling)
        sample = sampling.temperature > 0
        copies = sampling.n if sample else 1  # greedy samples are identical: generate once, repeat
        rows = [i for i in range(len(prompts)) for _ in range(copies)]
        encoded = encode_prompts(self.tokenizer, prompts)
        rows.sort(key=lambda i: -len(encoded[i]))  # longest first: little padding per batch
        batches = [rows[s:s + self.batch_size] for s in range(0, len(rows), self.batch_size)]
        per_prompt: list[list[Completion]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            with _progress(len(batches), self.show_progress) as advance:
                for b, batch in enumerate(batches):
                    ids = [encoded[i] for i in batch]
                    for i, completion in zip(batch, self._generate_batch(ids, sampling, seed=sampling.seed + b)):
                        per_prompt[i].append(completion)
                    advance()
        finally:
            self.model.train(was_training)
        if not sample:
            per_prompt = [c * sampling.n for c in per_prompt]
        return per_prompt

    def _generate_images(self, prompts: list[str], images: list[Any],
                         sampling: SamplingParams) -> list[list[Completion]]:
        """Prompts with images: the model's processor turns (text, image) into input_ids + pixel_values.

        A prompt without the processor's image placeholder gets it in front (the LLaVA layout
        "<image>\nquestion"); a chat template with an image part has already written it."""
        from mlreason.data.multimodal import image_placeholder, load_image

        if len(images) != len(prompts) or any(x is None for x in images):
            raise UserError("a batch mixes prompts with and without images; evaluate image and text datasets apart")
        processor = self._processor()
        token = image_placeholder(processor)
        texts = [p if token in p else f"{token}\n{p}" for p in prompts]
        pictures = [load_image(x) for x in images]
        sample = sampling.temperature > 0
        copies = sampling.n if sample else 1
        rows = [i for i in range(len(prompts)) for _ in range(copies)]
        batches = [rows[s:s + self.batch_size] for s in range(0, len(rows), self.batch_size)]
        per_prompt: list[list[Completion]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for b, batch in enumerate(batches):
                # one list of images per text: Gemma 3's processor needs the nesting, LLaVA's accepts it
                enc = processor(text=[texts[i] for i in batch], images=[[pictures[i]] for i in batch],
                                return_tensors="pt", padding=True)
                for i, completion in zip(batch, self._generate_encoded(enc, sampling, seed=sampling.seed + b)):
                    per_prompt[i].append(completion)
        finally:
            self.model.train(was_training)
        return per_prompt if sample else [c * sampling.n for c in per_prompt]

    def _processor(self) -> Any:
        if self.processor is None:
            from mlreason.models import load_processor

            if not self.model_path:
                raise UserError("image prompts need the model's processor: build the hf generator from a model path")
            self.processor = load_processor(self.model_path, trust_remote_code=self.trust_remote_code)
        return self.processor

    @torch.no_grad()
    def _generate_batch(self, ids: list[list[int]], sampling: SamplingParams, seed: int) -> list[Completion]:
        tok = self.tokenizer
        side = tok.padding_side
        tok.padding_side = "left"  # decoder-only generation needs the prompt flush against the new tokens
        try:
            enc = tok.pad({"input_ids": ids}, return_tensors="pt").to(self.model.device)
        finally:
            tok.padding_side = side
        return self._generate_encoded(enc, sampling, seed)

    @torch.no_grad()
    def _generate_encoded(self, enc: Any, sampling: SamplingParams, seed: int) -> list[Completion]:
        """model.generate on an encoded, left-padded batch (input_ids, attention_mask, maybe pixel_values)."""
        tok = self.tokenizer
        enc = enc.to(self.model.device)
        if "pixel_values" in enc:
            enc["pixel_values"] = enc["pixel_values"].to(self.model.dtype)
        sample = sampling.temperature > 0
        options: dict[str, Any] = dict(
            max_new_tokens=sampling.max_tokens,
            do_sample=sample,
            num_beams=1,
            repetition_penalty=1.0,
            eos_token_id=self.eos_ids,
            pad_token_id=tok.pad_token_id,
        )
        if sample:
            # top_k 0: vLLM's default is no top-k; transformers would take the model's (often 20-50)
            options.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=0)
        if sampling.stop:
            options.update(stop_strings=list(sampling.stop), tokenizer=tok)
        cache = self._shared_prefill(enc) if sample and "pixel_values" not in enc else None
        if cache is not None:
            options["past_key_values"] = cache
        rng = torch.random.fork_rng(devices=[self.model.device] if self.model.device.type == "cuda" else [])
        with rng:
            torch.manual_seed(seed)
            out = self.model.generate(**enc, **options)
        new = out[:, enc["input_ids"].shape[1]:].tolist()
        return [self._finish(ids, sampling.stop) for ids in new]

    def _shared_prefill(self, enc: Any) -> Any:
        """A key/value cache of every prompt token but the last, computed once per distinct prompt and
        indexed out to the batch's rows, or None (every row distinct, or a model whose cache is not
        plain per-layer key/value tensors). n samples of one prompt (a GRPO group) share one prefill,
        as vLLM's prefix cache does; generate() then runs the last prompt token and samples as
        before, with the same positions, so the draws are the same up to float rounding."""
        import inspect

        from transformers.cache_utils import DynamicCache, DynamicLayer

        ids, mask = enc["input_ids"], enc["attention_mask"]
        if ids.shape[1] < 2 or getattr(getattr(self.model, "generation_config", None), "cache_implementation", None):
            return None
        distinct, row = torch.unique(torch.cat([ids, mask], dim=1), dim=0, return_inverse=True)
        if distinct.shape[0] == ids.shape[0]:
            return None
        rows = row.tolist()
        first = [rows.index(k) for k in range(distinct.shape[0])]  # a row holding each distinct prompt
        m = mask[first, :-1]
        kwargs: dict[str, Any] = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(
            self.model.forward).parameters else {}
        out = self.model(input_ids=ids[first, :-1], attention_mask=m, use_cache=True,
                         position_ids=(m.long().cumsum(-1) - 1).masked_fill(m == 0, 0), **kwargs)
        cache = out.past_key_values
        if not isinstance(cache, DynamicCache) or any(type(x) is not DynamicLayer for x in cache.layers):
            return None
        cache.batch_select_indices(row)
        return cache

    def _finish(self, ids: list[int], stop: tuple[str, ...]) -> Completion:
        """Cut one generated row at eos / the first stop string, vLLM style."""
        eos_at = next((k for k, t in enumerate(ids) if t in self.eos_ids), None)
        if eos_at is not None:
            ids = ids[: eos_at + 1]
        cut = _stop_cut(self.tokenizer, ids, stop) if stop else None
        if cut is not None:
            n_tokens, text = cut
            return Completion(text=text, token_ids=ids[:n_tokens], finish_reason="stop")
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        return Completion(text=text, token_ids=ids, finish_reason="stop" if eos_at is not None else "length")

    def update_weights(self, model: Any, changed: Collection[str] | None = None) -> None:
        """Generate with this model object from now on (a trainer's live model: no copy needed)."""
        self.model = getattr(model, "module", model)  # unwrap DistributedDataParallel
        self.eos_ids = self._eos_ids()

    def close(self) -> None:
        self.model = None
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _stop_cut(tokenizer: Any, ids: list[int], stop: tuple[str, ...]) -> tuple[int, str] | None:
    """(tokens up to the one completing the first stop string, text before it), or None if no stop string.

    Tokens and text can disagree at a boundary (a stop string ending inside a token), so the
    shortest token prefix whose text contains a stop string decides, as in vLLM's detokenizer.
    "Contains a stop string" only turns on as the prefix grows, so a binary search finds it.
    """

    def hit(k: int) -> bool:
        text = tokenizer.decode(ids[:k], skip_special_tokens=True)
        return any(s in text for s in stop)

    if not ids or not hit(len(ids)):
        return None
    lo, hi = 1, len(ids)  # invariant: hit(hi) is true; the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if hit(mid):
            hi = mid
        else:
            lo = mid + 1
    text = tokenizer.decode(ids[:hi], skip_special_tokens=True)
    return hi, text[: min(text.find(s) for s in stop if s in text)]


def _progress(total: int, enabled: bool):
    """Context manager yielding an `advance()` callable; a rich bar only when there are several batches."""
    if not enabled or total <= 1:
        return nullcontext(lambda: None)
    from contextlib import contextmanager

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    @contextmanager
    def bar():
        with Progress(TextColumn("generate"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      transient=True) as progress:
            task = progress.add_task("generate", total=total)
            yield lambda: progress.advance(task)

    return bar()
