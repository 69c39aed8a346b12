"""In which language does a model answer th/sw questions when sampling at temperature 1, and how often is it right?

    python bench/rollout_language.py demo/pretrain/model --languages th,sw --problems 40 --samples 8

The statistic behind docs/rl.md's "language drift is possible" paragraph: for the first `problems`
training questions of each language (native-CoT prompt, as rl-train builds it), `samples` rollouts
at temperature 1 (64 tokens, as the demo's RL recipes), each labelled by the evaluation's LC rule
(PolyMath's: langdetect must return that language alone): English, the question's own language,
or neither (mixed, or too short to judge, which the rule lets through as both); per label the
count and the share whose flexible answer (the last number, as plain GRPO's reward reads it) is
right. Not part of run_all.py (it needs a trained world model). One thread, fixed seed: the same
counts on every run of this machine.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path, help="a trained world model (e.g. demo/pretrain/model)")
    ap.add_argument("--languages", default="th,sw")
    ap.add_argument("--problems", type=int, default=40)
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if not (args.model / "config.json").is_file():
        raise SystemExit(f"no model in {args.model}; pass a folder written by `mlreason finetune` (its model/)")

    import torch

    from mlreason.answers import score_answer
    from mlreason.data.manifest import load_examples
    from mlreason.data.prompts import build_prompt
    from mlreason.generation.base import SamplingParams
    from mlreason.generation.hf import HFGenerator
    from mlreason.language import get_detector, is_consistent

    torch.set_num_threads(1)
    detector = get_detector("langdetect")
    gen = HFGenerator(str(args.model), dtype="float32", batch_size=64, show_progress=False)
    langs = [x.strip() for x in args.languages.split(",")]
    examples = load_examples("tinyworld", langs, split="train", limit=args.problems)
    sampling = SamplingParams(n=args.samples, temperature=1.0, max_tokens=64, seed=args.seed)
    print(f"{args.model}: {args.problems} train questions x {args.samples} rollouts at temperature 1, by LC label")
    print(f"{'lang':5s} {'label':8s} {'rollouts':>8s} {'correct':>8s}")
    for lang in langs:
        exs = examples[lang]
        outs = gen.generate([build_prompt(ex, "native-cot") for ex in exs], sampling)
        tally: dict[str, list[int]] = {"en": [0, 0], lang: [0, 0], "neither": [0, 0]}
        for ex, completions in zip(exs, outs, strict=True):
            for c in completions:
                is_en, is_native = (is_consistent(c.text, la, detector) for la in ("en", lang))
                label = "neither" if is_en == is_native else "en" if is_en else lang  # both: too short to judge
                tally[label][0] += 1
                tally[label][1] += int(score_answer(c.text, ex.answer, lang).flexible_correct)
        for label, (n, right) in tally.items():
            share = f"{100 * right / n:7.1f}%" if n else "      -"
            print(f"{lang:5s} {label:8s} {n:8d} {share:>8s}")


if __name__ == "__main__":
    main()
