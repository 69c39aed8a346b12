"""Rollouts for GRPO: problem order, hinted prompts, and completions turned into trainable samples.

The loop calls `next_problems` (a resumable shuffled cursor), `hinted_prompts` (LANG hints in
the prompt or as a forced completion prefix), the Generator (hf or vllm: never branched on),
then `make_samples` and `collate` to get padded tensors for the loss. Token ids of generated
text come from the generator; log-probs are always recomputed by the trainer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from mlreason.data.types import Example
from mlreason.rl.hints import hint_text, segment_solution


@dataclass
class DataCursor:
    """Shuffled pass over the training problems; (epoch, pos) is all the state a resume needs."""

    size: int
    seed: int
    epoch: int = 0
    pos: int = 0

    def _order(self) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.size, generator=g).tolist()

    def take(self, n: int) -> list[int]:
        out: list[int] = []
        order = self._order()
        while len(out) < n:
            if self.pos >= self.size:
                self.epoch, self.pos = self.epoch + 1, 0
                order = self._order()
            k = min(n - len(out), self.size - self.pos)
            out.extend(order[self.pos:self.pos + k])
            self.pos += k
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])


@dataclass
class HintedPrompt:
    example: Example
    base: str  # the prompt without hint
    prompt: str  # what the generator sees: base (+ separator + hint)
    hint: str  # hint text shown (in the prompt, or forced as the completion's start)
    hint_share: float  # segments shown / segments available
    forced_prefix: str = ""  # completion-prefix placement: separator + hint, trained on as completion tokens


def join_hint(base: str, hint: str, separator: str = " ") -> str:
    """The separator between prompt and hint, as between prompt and answer in SFT data ("" after
    whitespace or a full-width colon, as `prompts.labelled` does)."""
    if not hint or not base or base[-1].isspace() or base.endswith("："):
        return ""
    return separator


def hinted_prompts(examples: Sequence[Example], base_prompts: Sequence[str], p: float, hints_on: Sequence[bool],
                   *, placement: str = "prompt", hide_last: int = 0, separator: str = " ") -> list[HintedPrompt]:
    """One prompt per problem: its base prompt followed by the first floor(p*S) solution segments.

    hints_on[i] False (the switch withdrew the language's group, or hints are off) gives the bare prompt.
    """
    out = []
    for ex, base, on in zip(examples, base_prompts, hints_on, strict=True):
        hint, share = "", 0.0
        if on and p > 0 and ex.solution:
            usable = max(len(segment_solution(ex.solution)) - hide_last, 0)
            hint = hint_text(ex.solution, p, max_segments=usable)
            share = len(segment_solution(hint)) / usable if hint and usable else 0.0
        shown = join_hint(base, hint, separator) + hint
        forced = shown if placement == "completion-prefix" else ""
        out.append(HintedPrompt(ex, base, base + shown, hint, share, forced))
    return out


@dataclass
class Sample:
    """One rollout ready for the loss. Ids are plain lists; tensors are built per micro-batch."""

    prompt_ids: list[int]
    completion_ids: list[int]  # forced prefix (if any) + generated tokens
    prefix_len: int
    language: str
    finish_reason: str
    advantage: float = 0.0
    weight: float = 1.0  # 0: not trained on (truncated, negative-only, dropped group)
    old_logp: Tensor | None = None
    ref_logp: Tensor | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode(tokenizer: Any, text: str, special: bool = False) -> list[int]:
    """Token ids of text; special=True adds BOS etc. as the generators do for prompts."""
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def split_prefix_ids(tokenizer: Any, prompt: str, prefix: str) -> tuple[list[int], list[int]]:
    """Ids of the prompt and of the forced prefix, as the generator saw them (prompt+prefix jointly).

    BPE can merge across the boundary; then the boundary token goes to the prefix.
    """
    joint = encode(tokenizer, prompt + prefix, special=True)
    alone = encode(tokenizer, prompt, special=True)
    k = len(alone)
    while k > 0 and joint[:k] != alone[:k]:
        k -= 1
    return joint[:k], joint[k:]


@dataclass
class Batch:
    input_ids: Tensor  # (b, P + T)
    attention_mask: Tensor  # (b, P + T)
    position_ids: Tensor  # (b, P + T)
    completion_ids: Tensor  # (b, T)
    mask: Tensor  # (b, T) 1 on real completion tokens, times the sample weight
    prefix_mask: Tensor  # (b, T) 1 on forced-prefix tokens
    advantages: Tensor  # (b,)
    old_logp: Tensor | None  # (b, T)
    ref_logp: Tensor | None  # (b, T)


def _pad_logp(rows: list[Tensor | None], width: int, device: torch.device | str) -> Tensor | None:
    if any(r is None for r in rows):
        return None
    out = torch.zeros(len(rows), width)
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out.to(device)


def collate(samples: Sequence[Sample], pad_id: int, device: torch.device | str = "cpu") -> Batch:
    """Left-pad prompts to P, right-pad completions to T; positions count real tokens only,
    as generate() does, so recomputed log-probs match the rollout's."""
    P = max(len(s.prompt_ids) for s in samples)
    T = max(len(s.completion_ids) for s in samples)
    b = len(samples)
    ids = torch.full((b, P + T), pad_id, dtype=torch.long)
    attn = torch.zeros(b, P + T, dtype=torch.long)
    prefix = torch.zeros(b, T)
    for i, s in enumerate(samples):
        p, c = s.prompt_ids, s.completion_ids
        ids[i, P - len(p):P] = torch.tensor(p, dtype=torch.long)
        ids[i, P:P + len(c)] = torch.tensor(c, dtype=torch.long)
        attn[i, P - len(p):P + len(c)] = 1
        prefix[i, : s.prefix_len] = 1.0
    pos = (attn.cumsum(-1) - 1).clamp(min=0)
    comp_mask = attn[:, P:].float() * torch.tensor([s.weight for s in samples]).unsqueeze(1)
    return Batch(ids.to(device), attn.to(device), pos.to(device), ids[:, P:].to(device), comp_mask.to(device),
                 prefix.to(device), torch.tensor([s.advantage for s in samples], device=device),
                 _pad_logp([s.old_logp for s in samples], T, device),
                 _pad_logp([s.ref_logp for s in samples], T, device))
