"""Streaming activation statistics: one hooked forward pass per language, O(L x I) memory per language.

    from mlreason.probing.stats import collect_stats
    stats = collect_stats(model, tokenizer, {"en": ["text", ...], "de": [...]}, batch_size=8)
    stats.over        # [L, I, K] int64: tokens of language k with act(gate(x))[l, j] > 0
    stats.ntokens     # [K] real tokens counted (padding never counts)

Each document (one question / one line of a text file) is one row of a right-padded batch, so
real tokens keep their usual positions and never attend to padding. With `plnd_top_k`, the input
of down_proj h = act(gate(x)) * up(x) also gives the PLND importance per document
||h[:, j]||_2 * ||W_down[:, j]||_2, and `topk_count` counts how often each neuron is in a
document's per-layer top-k. Hooks are removed on every exit path.

With a VLM's `processor`, the documents are (text, image) pairs (probe-layers' `data.corpus: image+text`):
the processor puts its image placeholder before the text and expands it into the image tokens, the batch
carries `pixel_values` (and whatever else the processor returns) to the model, and the language model's
MLPs count every real position, image tokens included (`image_tokens` says how many were image tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlreason.probing.sites import GatedMLP, NeuronGroup, gated_mlps


def load_probe_model(cfg: Any, padding_side: str = "right") -> tuple[Any, Any]:
    """(model, tokenizer) of a ProbeConfig's model section (probe-layers and its PiM analysis)."""
    from mlreason.errors import UserError
    from mlreason.models import load_model, load_tokenizer

    if not cfg.model.name_or_path:
        raise UserError("no model given: pass --model NAME_OR_PATH or set model.name_or_path")
    m = cfg.model
    tokenizer = load_tokenizer(m.name_or_path, padding_side=padding_side, trust_remote_code=m.trust_remote_code)
    model = load_model(m.name_or_path, dtype=m.dtype, device=m.device, trust_remote_code=m.trust_remote_code)
    return model, tokenizer


@dataclass
class ProbeStats:
    languages: list[str]
    over: torch.Tensor                 # [L, I, K] int64
    ntokens: torch.Tensor              # [K] int64
    n_docs: torch.Tensor               # [K] int64
    topk_count: torch.Tensor | None    # [L, I, K] int64 when PLND was collected
    image_tokens: torch.Tensor | None = None   # [K] int64: how many of ntokens were image tokens (image+text)


class ActivationRecorder:
    """Forward hooks on every layer's neurons (and the down projection's input for PLND) of one model.

    Use as a context manager; call `set_mask(mask)` before each forward (mask: [B, T] bool of real
    tokens) and `take()` after a language to read and reset the counts. A layer's neurons may come
    in several groups (mlreason.probing.sites): a dense MLP's act output, or MoE experts, whose
    activations are recomputed from the experts module's inputs for the tokens routed to each expert.
    """

    def __init__(self, gated: list[GatedMLP], plnd_top_k: int | None = None) -> None:
        self.gated = gated
        self.plnd_top_k = plnd_top_k
        n_layers, width = len(gated), gated[0].width
        device = next(gated[0].mlp.parameters()).device
        self.over = torch.zeros(n_layers, width, dtype=torch.int64, device=device)
        self.topk = torch.zeros(n_layers, width, dtype=torch.int64, device=device)
        self.ntokens = 0
        self.n_docs = 0
        # ||W_down[:, j]||_2 per neuron, computed once
        self.wnorm = [torch.cat([g.down_norms() for g in site.groups]).to(device) for site in gated] \
            if plnd_top_k else []
        self._sq: list[torch.Tensor | None] = [None] * n_layers   # PLND: sum_t h^2 per document [B, width]
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        self._index: torch.Tensor | None = None     # real positions of the flattened batch; None: all
        self._mask: torch.Tensor | None = None
        self._mask_f: torch.Tensor | None = None    # [B, T, 1] float32 mask for PLND; None: no padding
        self._docs: torch.Tensor | None = None      # rows with a real token; None: all

    def __enter__(self) -> ActivationRecorder:
        try:
            for layer, site in enumerate(self.gated):
                for group in site.groups:
                    self._hook(layer, group)
        except BaseException:
            self.remove()
            raise
        return self

    def _hook(self, layer: int, group: NeuronGroup) -> None:
        if group.experts is not None:
            self._handles.append(group.experts.register_forward_pre_hook(self._experts_hook(layer, group)))
            return
        self._handles.append(group.act.register_forward_hook(self._act_hook(layer, group)))
        if self.plnd_top_k:
            self._handles.append(group.down.register_forward_pre_hook(self._down_hook(layer, group)))

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def set_mask(self, mask: torch.Tensor) -> None:
        """mask: [B, T] bool, True for tokens that count (best given on the CPU: no device syncs)."""
        self._flush()
        flat = mask.reshape(-1)
        self.ntokens += int(flat.sum())
        self.n_docs += int(mask.any(dim=1).sum())
        device = self.over.device
        self._mask = mask.to(device)
        # when every position is real, skip the gather (the common case for equal-length batches); the
        # indices are found on the host from the CPU mask, so no hook or flush waits on the device for them
        full = bool(flat.all())
        self._index = None if full else torch.nonzero(flat).flatten().to(device)
        self._mask_f = None if full else self._mask.to(torch.float32).unsqueeze(-1)   # [B, T, 1] for PLND
        rows = mask.any(dim=1)
        self._docs = None if bool(rows.all()) else torch.nonzero(rows).flatten().to(device)

    def _act_hook(self, layer: int, group: NeuronGroup) -> Callable[..., None]:
        cols = slice(group.offset, group.offset + group.width)

        def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
            flat = out.reshape(-1, out.shape[-1])
            if self._index is not None:
                flat = flat.index_select(0, self._index)
            # int32 partial sums: ~40x faster than bool -> int64 on CPU, exact below 2**31 tokens a batch
            self.over[layer, cols] += (flat > 0).sum(dim=0, dtype=torch.int32)
        return hook

    def _down_hook(self, layer: int, group: NeuronGroup) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple) -> None:
            # [B, T, I]; a shared expert sees the batch flattened to [B * T, I] (Qwen2-MoE)
            x = args[0].reshape(*self._mask.shape, -1)
            h = x.float()
            # one [B, T, I] temporary, squared and masked in place (h is the module's input only when it was
            # float32 already); the same products and the same sum over T as (h * h * mask).sum(1), bit for bit
            sq = h.mul_(h) if h is not x else h * h
            if self._mask_f is not None:                           # padding: x 0.0, as the mask product did
                sq.mul_(self._mask_f)
            self._doc_sq(layer, group.offset, sq.sum(dim=1))
        return hook

    def _experts_hook(self, layer: int, group: NeuronGroup) -> Callable[..., None]:
        experts = group.experts

        def hook(module: nn.Module, args: tuple) -> None:
            x, top_k_index = args[0], args[1]                     # [N, H] with N = B * T, [N, k]
            n_experts, _, inner = experts.down_proj.shape
            real = self._mask.reshape(-1)                          # [N]
            doc = torch.arange(x.shape[0], device=x.device) // self._mask.shape[1]
            for e in range(n_experts):
                rows = ((top_k_index == e).any(dim=-1) & real).nonzero().flatten()
                if not len(rows):
                    continue
                gate, up = F.linear(x[rows], experts.gate_up_proj[e]).chunk(2, dim=-1)   # [n_e, I] each
                act = experts.act_fn.forward(gate)   # .forward: our recomputation must not fire act_fn's hooks
                cols = slice(group.offset + e * inner, group.offset + (e + 1) * inner)
                self.over[layer, cols] += (act > 0).sum(dim=0, dtype=torch.int32)
                if self.plnd_top_k:
                    h = (act * up).float()
                    sq = torch.zeros(self._mask.shape[0], inner, device=x.device).index_add_(0, doc[rows], h * h)
                    self._doc_sq(layer, group.offset + e * inner, sq)
        return hook

    def _doc_sq(self, layer: int, offset: int, sq: torch.Tensor) -> None:
        """Add sum_t h^2 per document ([B, w]) into the layer's PLND buffer at columns offset..offset+w."""
        sq = sq.to(self.over.device)
        if self._sq[layer] is None and offset == 0 and sq.shape[1] == self.over.shape[1]:
            self._sq[layer] = sq          # a dense layer's one group: 0.0 + sq would change nothing (sq >= +0.0)
            return
        if self._sq[layer] is None:
            self._sq[layer] = torch.zeros(sq.shape[0], self.over.shape[1], device=self.over.device)
        self._sq[layer][:, offset:offset + sq.shape[1]] += sq

    def _flush(self) -> None:
        """PLND after a batch: ||h[:, j]||_2 * ||W_down[:, j]||_2 per document, then its per-layer top-k."""
        if self._mask is None:
            return
        for layer, sq in enumerate(self._sq):
            if sq is None:
                continue
            importance = sq.sqrt() * self.wnorm[layer]             # [B, width]
            if self._docs is not None:                             # rows without a real token have no top-k
                importance = importance.index_select(0, self._docs)
            k = min(self.plnd_top_k, importance.shape[-1])
            top = importance.topk(k, dim=-1).indices.flatten()
            # index_add_ rather than bincount: the same integer counts, and no device -> host sync on CUDA
            self.topk[layer].index_add_(0, top, torch.ones_like(top))
            self._sq[layer] = None

    def take(self) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        """(over [L, I], topk [L, I], ntokens, n_docs) on the CPU; the counters restart at zero."""
        self._flush()
        out = (self.over.cpu().clone(), self.topk.cpu().clone(), self.ntokens, self.n_docs)
        self.over.zero_()
        self.topk.zero_()
        self.ntokens = self.n_docs = 0
        return out


def token_documents(texts: Iterable[str], tokenizer, *, max_seq_len: int = 512, max_examples: int | None = None,
                    max_tokens: int | None = None) -> Iterator[list[int]]:
    """Token ids per document, lazily; stops after max_examples documents or max_tokens tokens."""
    n_docs = n_tokens = 0
    for text in texts:
        if max_examples is not None and n_docs >= max_examples:
            return
        if max_tokens is not None and n_tokens >= max_tokens:
            return
        ids = tokenizer(text, truncation=True, max_length=max_seq_len)["input_ids"]
        if max_tokens is not None:
            ids = ids[: max_tokens - n_tokens]
        if not ids:
            continue
        n_docs += 1
        n_tokens += len(ids)
        yield ids


def image_documents(pairs: Iterable[tuple[str, Any]], processor: Any, *, max_examples: int | None = None,
                    max_tokens: int | None = None) -> Iterator[tuple[list[int], dict[str, torch.Tensor], int]]:
    """(token ids, the processor's image tensors, real) per (text, image) document, lazily.

    A document is never cut (its image tokens must stay whole): with max_tokens, `real` counts only its
    tokens up to the limit, and the mask leaves the rest out (causal attention: the counted positions see
    the same prefix as when the document is cut)."""
    from mlreason.data.multimodal import image_placeholder, load_image

    placeholder = image_placeholder(processor)
    n_tokens = 0
    for n_docs, (text, image) in enumerate(pairs):
        if max_examples is not None and n_docs >= max_examples:
            return
        if max_tokens is not None and n_tokens >= max_tokens:
            return
        enc = processor(text=[f"{placeholder}\n{text}"], images=[[load_image(image)]], return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        real = len(ids) if max_tokens is None else min(len(ids), max_tokens - n_tokens)
        n_tokens += real
        yield ids, {k: v for k, v in enc.items() if k not in ("input_ids", "attention_mask")}, real


def image_batches(docs: Iterable[tuple[list[int], dict[str, torch.Tensor], int]], batch_size: int,
                  pad_id: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]]:
    """Right-padded (input_ids, mask, image tensors) batches in document order: per-token tensors
    (Gemma 3's token_type_ids) are padded with 0, the others (pixel_values, image_grid_thw) concatenated."""
    chunk: list[tuple[list[int], dict[str, torch.Tensor], int]] = []
    for doc in docs:
        chunk.append(doc)
        if len(chunk) == batch_size:
            yield _image_batch(chunk, pad_id)
            chunk = []
    if chunk:
        yield _image_batch(chunk, pad_id)


def _image_batch(chunk: list[tuple[list[int], dict[str, torch.Tensor], int]],
                 pad_id: int) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    input_ids, _ = _pad([ids for ids, _, _ in chunk], pad_id)
    mask = torch.zeros(input_ids.shape, dtype=torch.bool)
    extra: dict[str, torch.Tensor] = {}
    for row, (_, _, real) in enumerate(chunk):
        mask[row, :real] = True
    for key in chunk[0][1]:
        per_token = all(v[key].dim() == 2 and v[key].shape == (1, len(ids)) for ids, v, _ in chunk)
        if per_token:
            extra[key] = torch.zeros(input_ids.shape, dtype=chunk[0][1][key].dtype)
            for row, (ids, v, _) in enumerate(chunk):
                extra[key][row, : len(ids)] = v[key][0]
        else:
            extra[key] = torch.cat([v[key] for _, v, _ in chunk])
    return input_ids, mask, extra


def batches(docs: Iterable[list[int]], batch_size: int, pad_id: int,
            window: int = 16) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Right-padded (input_ids [B, T], mask [B, T] bool) batches of documents.

    Documents are buffered `window` batches at a time and sorted by length, so batches carry
    little padding; counts do not depend on the order (tests/test_probing_stats.py).
    """
    buf: list[list[int]] = []
    for ids in docs:
        buf.append(ids)
        if len(buf) == batch_size * window:
            yield from _sorted_batches(buf, batch_size, pad_id)
            buf = []
    yield from _sorted_batches(buf, batch_size, pad_id)


def _sorted_batches(buf: list[list[int]], batch_size: int, pad_id: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    buf = sorted(buf, key=len)
    for start in range(0, len(buf), batch_size):
        yield _pad(buf[start : start + batch_size], pad_id)


def _pad(chunk: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids in chunk)
    input_ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(chunk), width), dtype=torch.bool)
    for row, ids in enumerate(chunk):
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, : len(ids)] = True
    return input_ids, mask


def decoder_forward(model: nn.Module) -> nn.Module:
    """The model without its LM head: the hooks need the layers, not the vocabulary logits."""
    return getattr(model, "base_model", model)


@torch.no_grad()
def run_batch(body: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor,
              extra: dict[str, torch.Tensor] | None = None) -> None:
    """One forward of the model body; `extra`: a VLM's image inputs (pixel_values in the model's dtype)."""
    param = next(body.parameters())
    inputs = {k: v.to(param.device, dtype=param.dtype if v.is_floating_point() else v.dtype)
              for k, v in (extra or {}).items()}
    body(input_ids=input_ids.to(param.device), attention_mask=mask.to(device=param.device, dtype=torch.long),
         use_cache=False, **inputs)


def collect_stats(model: nn.Module, tokenizer, texts: dict[str, Iterable[str]], *, batch_size: int = 8,
                  max_seq_len: int = 512, max_examples: int | None = None, max_tokens: int | None = None,
                  plnd_top_k: int | None = None, progress: Callable[[str, int], None] | None = None,
                  processor: Any = None) -> ProbeStats:
    """Activation counts for every language of `texts` (one streaming pass each); with a VLM's `processor`
    the texts are (text, image) pairs and documents are not cut at max_seq_len."""
    gated = gated_mlps(model)
    body = decoder_forward(model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    image_id = None if processor is None else tokenizer.convert_tokens_to_ids(processor.image_token)
    over, topk, ntokens, n_docs, n_image = [], [], [], [], []
    with ActivationRecorder(gated, plnd_top_k) as rec:
        for lang, lang_texts in texts.items():
            image = 0
            if processor is None:
                docs = token_documents(lang_texts, tokenizer, max_seq_len=max_seq_len,
                                       max_examples=max_examples, max_tokens=max_tokens)
                stream: Iterator[tuple[Any, ...]] = ((ids, mask, None) for ids, mask in batches(docs, batch_size,
                                                                                                 pad_id))
            else:
                pairs = image_documents(lang_texts, processor, max_examples=max_examples, max_tokens=max_tokens)
                stream = image_batches(pairs, batch_size, pad_id)
            for input_ids, mask, extra in stream:
                rec.set_mask(mask)
                run_batch(body, input_ids, mask, extra)
                if image_id is not None:
                    image += int(((input_ids == image_id) & mask).sum())
                if progress:
                    progress(lang, int(mask.sum()))
            o, t, n, d = rec.take()
            over.append(o), topk.append(t), ntokens.append(n), n_docs.append(d), n_image.append(image)
    return ProbeStats(
        languages=list(texts),
        over=torch.stack(over, dim=-1),
        ntokens=torch.tensor(ntokens, dtype=torch.int64),
        n_docs=torch.tensor(n_docs, dtype=torch.int64),
        topk_count=torch.stack(topk, dim=-1) if plnd_top_k else None,
        image_tokens=None if processor is None else torch.tensor(n_image, dtype=torch.int64),
    )
