"""The tiny multilingual reasoning world: templated arithmetic word problems with worked solutions.

    mlreason make-world --out data/tinyworld --seed 0      # writes {train,test}_{lang}.jsonl + manifest
    from mlreason.data.tinyworld import generate_problems, render
    q, s = render(generate_problems(1, seed=0)[0], "th")

Small numbers and one or two operations (add, sub, mul, add-then-sub, mul-then-add), so a
tiny model trained from scratch on CPU learns it in minutes. Six languages with different
scripts and resource levels: en de zh ru th sw. Row i is the same problem (same numbers, same
answer, the "same" name and item) in every language. Every solution ends with the language's
answer sentence built from `mlreason.answers.ANSWER_PHRASES` ("The answer is 7.", "答案是 7。"),
so strict extraction finds it. Generation is deterministic per seed (Python's `random.Random`).

Two things make language drift possible. The th and sw solutions are terse, as low-resource
text often is: each result is stated ("so now she has 12") but no equation is written out, so the
model must do the arithmetic in its head, which a tiny model does far less accurately than when it
writes "7 + 5 = 12" first. And the `mixed` split holds th and sw questions followed by the
*English* (worked) solution, as on the web, where low-resource questions are often answered in
English. A model pretrained on both can reason in English about th/sw questions, and does so more
accurately than in the question's language; plain GRPO with a correctness-only reward then drifts
to English, which LANG's language reward prevents. The mixed problems are drawn after the train
split's and never appear in train or test.
Tested by `pytest tests/test_tinyworld.py`.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from mlreason.answers import ANSWER_PHRASES
from mlreason.errors import UserError
from mlreason.runs import atomic_write_text

WORLD_LANGUAGES = ("en", "de", "zh", "ru", "th", "sw")
MIXED_LANGUAGES = ("th", "sw")  # the mixed split: these questions, English solutions
MIXED_SOLUTION_LANGUAGE = "en"
KINDS = ("add", "sub", "mul", "add_sub", "mul_add")
N_NAMES = 6
N_ITEMS = 5

NAMES: dict[str, list[str]] = {
    "en": ["Anna", "Tom", "Lily", "Sam", "Emma", "Jack"],
    "de": ["Anna", "Lukas", "Mia", "Felix", "Lena", "Paul"],
    "zh": ["小东", "小红", "小华", "小丽", "小刚", "小兰"],
    "ru": ["Аня", "Иван", "Маша", "Петя", "Оля", "Саша"],
    "th": ["สมชาย", "มานี", "สมศรี", "ชูใจ", "ปิติ", "วีระ"],
    "sw": ["Juma", "Amina", "Baraka", "Zawadi", "Neema", "Hassani"],
}
RU_GENITIVE = {"Аня": "Ани", "Иван": "Ивана", "Маша": "Маши", "Петя": "Пети", "Оля": "Оли", "Саша": "Саши"}

# Item i is the same object in every language, with what each grammar needs around a number:
# en/de: plural; zh/th: (noun, classifier); ru: (one, few, many) forms; sw: (plural, "how many" agreeing form).
ITEMS: dict[str, list] = {
    "en": ["apples", "books", "pencils", "eggs", "balls"],
    "de": ["Äpfel", "Bücher", "Stifte", "Eier", "Bälle"],
    "zh": [("苹果", "个"), ("书", "本"), ("铅笔", "支"), ("鸡蛋", "个"), ("球", "个")],
    "ru": [("яблоко", "яблока", "яблок"), ("книга", "книги", "книг"), ("карандаш", "карандаша", "карандашей"),
           ("яйцо", "яйца", "яиц"), ("мяч", "мяча", "мячей")],
    "th": [("แอปเปิล", "ลูก"), ("หนังสือ", "เล่ม"), ("ดินสอ", "แท่ง"), ("ไข่", "ฟอง"), ("ลูกบอล", "ลูก")],
    "sw": [("matufaha", "mangapi"), ("vitabu", "vingapi"), ("penseli", "ngapi"), ("mayai", "mangapi"),
           ("mipira", "mingapi")],
}
RU_BOX = ("коробка", "коробки", "коробок")

# (question, solution body) per language and kind; the answer sentence is appended to the body.
# Every gold solution passes the evaluation's headline LC rule (PolyMath's: langdetect must name the
# language and nothing else), tested in tests/test_tinyworld.py, so LC 100 is reachable. Short texts
# with few words are where langdetect adds a second language, so the solutions are a little wordy, and
# the Chinese avoids characters that langdetect's profiles know only from Korean (把, 后, 朋, 盒, 桌,
# 芳 ...; 小明/小芳 became 小东/小兰, 盒子 a 箱子, 朋友 a 邻居).
# Slots: N name, G Russian genitive, I item (number-agreeing where the grammar needs it),
# a b c operands, s p intermediate results, r result.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "add": ("{N} has {a} {I}. {N} buys {b} more {I}. How many {I} does {N} have now?",
                "{N} starts with {a} {I}. {N} buys {b} more, so {a} + {b} = {r}."),
        "sub": ("{N} has {a} {I}. {N} gives {b} {I} to a friend. How many {I} does {N} have left?",
                "{N} starts with {a} {I}. {N} gives away {b}, so {a} - {b} = {r}."),
        "mul": ("{N} has {a} boxes. Each box holds {b} {I}. How many {I} does {N} have in total?",
                "There are {a} boxes with {b} {I} each, so {a} * {b} = {r}."),
        "add_sub": ("{N} has {a} {I}. {N} buys {b} more and then gives {c} to a friend. "
                    "How many {I} does {N} have now?",
                    "{N} starts with {a} {I}. After buying {b} more, {N} has {a} + {b} = {s}. "
                    "After giving {c} of them to a friend, {N} has {s} - {c} = {r} left."),
        "mul_add": ("{N} has {a} boxes with {b} {I} in each box and {c} more {I} on the table. "
                    "How many {I} does {N} have in total?",
                    "The boxes hold {a} * {b} = {p} {I}. With the {c} on the table, {N} has {p} + {c} = {r}."),
    },
    "de": {
        "add": ("{N} hat {a} {I}. {N} kauft {b} weitere {I}. Wie viele {I} hat {N} jetzt?",
                "Am Anfang hat {N} {a} {I}. Dann kauft {N} noch {b} dazu, also sind es {a} + {b} = {r}."),
        "sub": ("{N} hat {a} {I}. {N} gibt einem Freund {b} {I}. Wie viele {I} hat {N} noch?",
                "Am Anfang hat {N} {a} {I}. Dann schenkt {N} einem Freund {b} davon, "
                "also sind es noch {a} - {b} = {r}."),
        "mul": ("{N} hat {a} Kisten. In jeder Kiste sind {b} {I}. Wie viele {I} hat {N} insgesamt?",
                "Es sind {a} Kisten mit je {b} {I}, also {a} * {b} = {r}."),
        "add_sub": ("{N} hat {a} {I}. {N} kauft {b} weitere und gibt dann einem Freund {c}. "
                    "Wie viele {I} hat {N} jetzt?",
                    "{N} hat am Anfang {a} {I}. Nach dem Kauf hat {N} {a} + {b} = {s}. "
                    "Nach dem Verschenken von {c} hat {N} {s} - {c} = {r}."),
        "mul_add": ("{N} hat {a} Kisten mit je {b} {I} und noch {c} {I} auf dem Tisch. "
                    "Wie viele {I} hat {N} insgesamt?",
                    "In den Kisten sind {a} * {b} = {p} {I}. Mit den {c} auf dem Tisch hat {N} {p} + {c} = {r}."),
    },
    "zh": {  # wording chosen so langdetect reads every solution as zh-cn only (see the note above TEMPLATES)
        "add": ("{N}有{a}{C}{I}。{N}又买了{b}{C}{I}。{N}现在有多少{C}{I}？",
                "{N}一开始有{a}{C}{I}，又买了{b}{C}，于是一共是{a} + {b} = {r}{C}。"),
        "sub": ("{N}有{a}{C}{I}。{N}送给邻居{b}{C}{I}。{N}还有多少{C}{I}？",
                "{N}一开始有{a}{C}{I}，送给邻居{b}{C}，于是还有{a} - {b} = {r}{C}。"),
        "mul": ("{N}有{a}个箱子，每个箱子里有{b}{C}{I}。{N}一共有多少{C}{I}？",
                "一共是{a}个箱子，每个箱子里有{b}{C}，这样就是{a} * {b} = {r}{C}{I}。"),
        "add_sub": ("{N}有{a}{C}{I}。{N}又买了{b}{C}，然后送给邻居{c}{C}。{N}现在有多少{C}{I}？",
                    "{N}一开始有{a}{C}{I}。又买了{b}{C}，于是一共是{a} + {b} = {s}{C}。"
                    "送给邻居{c}{C}，于是还有{s} - {c} = {r}{C}。"),
        "mul_add": ("{N}有{a}个箱子，每个箱子里有{b}{C}{I}，箱子旁边还有{c}{C}{I}。{N}一共有多少{C}{I}？",
                    "箱子里一共是{a} * {b} = {p}{C}{I}。这些再加上旁边的{c}{C}，一共是{p} + {c} = {r}{C}。"),
    },
    "ru": {
        "add": ("У {G} есть {a} {Ia}. {N} покупает ещё {b} {Ib}. Сколько {Im} у {G} теперь?",
                "Сначала у {G} {a} {Ia}. {N} покупает ещё {b}, поэтому {a} + {b} = {r}."),
        "sub": ("У {G} есть {a} {Ia}. {N} отдаёт другу {b} {Ib}. Сколько {Im} осталось у {G}?",
                "Сначала у {G} {a} {Ia}. {N} отдаёт {b}, поэтому {a} - {b} = {r}."),
        "mul": ("У {G} есть {a} {Ba}. В каждой коробке {b} {Ib}. Сколько всего {Im} у {G}?",
                "Всего {a} {Ba} по {b} {Ib}, поэтому {a} * {b} = {r}."),
        "add_sub": ("У {G} есть {a} {Ia}. {N} покупает ещё {b}, а потом отдаёт другу {c}. Сколько {Im} у {G} теперь?",
                    "Сначала у {G} {a} {Ia}. После того как {N} покупает ещё {b}, у {G} становится {a} + {b} = {s}. "
                    "После того как {N} отдаёт другу {c}, у {G} остаётся {s} - {c} = {r}."),
        "mul_add": ("У {G} есть {a} {Ba} по {b} {Ib} и ещё {c} {Ic} на столе. Сколько всего {Im} у {G}?",
                    "В коробках всего {a} * {b} = {p} {Ip}. "
                    "Вместе с теми {c}, которые лежат на столе, у {G} получается {p} + {c} = {r}."),
    },
    "th": {  # terse, as low-resource solutions: each result stated, no equation written out
        "add": ("{N}มี{I} {a} {C} {N}ซื้อเพิ่มอีก {b} {C} ตอนนี้{N}มี{I}กี่{C}",
                "ตอนแรก{N}มี{I} {a} {C} {N}ซื้อเพิ่มอีก {b} {C} ดังนั้น{N}มี {r} {C}"),
        "sub": ("{N}มี{I} {a} {C} {N}ให้เพื่อนไป {b} {C} {N}เหลือ{I}กี่{C}",
                "ตอนแรก{N}มี{I} {a} {C} {N}ให้เพื่อนไป {b} {C} ดังนั้น{N}เหลือ {r} {C}"),
        "mul": ("{N}มีกล่อง {a} ใบ แต่ละกล่องมี{I} {b} {C} {N}มี{I}ทั้งหมดกี่{C}",
                "มีกล่อง {a} ใบ กล่องละ {b} {C} ดังนั้นมีทั้งหมด {r} {C}"),
        "add_sub": ("{N}มี{I} {a} {C} {N}ซื้อเพิ่มอีก {b} {C} แล้วให้เพื่อนไป {c} {C} ตอนนี้{N}มี{I}กี่{C}",
                    "ตอนแรก{N}มี{I} {a} {C} หลังจากซื้อเพิ่ม {N}มี {s} {C} "
                    "หลังจากให้เพื่อนไป {N}มี {r} {C}"),
        "mul_add": ("{N}มีกล่อง {a} ใบ แต่ละกล่องมี{I} {b} {C} และมี{I}อีก {c} {C} บนโต๊ะ {N}มี{I}ทั้งหมดกี่{C}",
                    "ในกล่องมี {p} {C} รวมกับอีก {c} {C} บนโต๊ะ {N}มีทั้งหมด {r} {C}"),
    },
    "sw": {  # terse, as th
        "add": ("{N} ana {I} {a}. {N} ananunua {I} {b} zaidi. {N} ana {I} {Q} sasa?",
                "Mwanzoni {N} ana {I} {a}. {N} ananunua {b} zaidi, kwa hiyo sasa ana {r}."),
        "sub": ("{N} ana {I} {a}. {N} anampa rafiki {I} {b}. {N} amebaki na {I} {Q}?",
                "Mwanzoni {N} ana {I} {a}. {N} anatoa {b}, kwa hiyo amebaki na {r}."),
        "mul": ("{N} ana masanduku {a}. Kila sanduku lina {I} {b}. {N} ana {I} {Q} kwa jumla?",
                "Kuna masanduku {a} yenye {I} {b} kila moja, kwa hiyo kuna {I} {r} kwa jumla."),
        "add_sub": ("{N} ana {I} {a}. {N} ananunua {b} zaidi, kisha anampa rafiki {c}. {N} ana {I} {Q} sasa?",
                    "Mwanzoni {N} ana {I} {a}. Baada ya kununua, {N} ana {s}. "
                    "Baada ya kutoa {c}, {N} ana {r}."),
        "mul_add": ("{N} ana masanduku {a} yenye {I} {b} kila moja na {I} {c} zaidi mezani. {N} ana {I} {Q} kwa jumla?",
                    "Masanduku yana {p}. Pamoja na {c} mezani, {N} ana {r}."),
    },
}
# What closes the answer sentence: Thai writes no full stop, Chinese a full-width one.
SENTENCE_END = {"zh": "。", "th": ""}


@dataclass(frozen=True)
class Problem:
    """One language-independent problem: row i of the world in every language."""

    kind: str
    name: int  # index into NAMES[lang]
    item: int  # index into ITEMS[lang]
    numbers: tuple[int, ...]  # operands a, b[, c]

    @property
    def steps(self) -> dict[str, int]:
        """Operands and intermediate results by slot name (a b c s p r)."""
        a, b, *rest = self.numbers
        c = rest[0] if rest else 0
        if self.kind == "add":
            return {"a": a, "b": b, "r": a + b}
        if self.kind == "sub":
            return {"a": a, "b": b, "r": a - b}
        if self.kind == "mul":
            return {"a": a, "b": b, "r": a * b}
        if self.kind == "add_sub":
            return {"a": a, "b": b, "c": c, "s": a + b, "r": a + b - c}
        if self.kind == "mul_add":
            return {"a": a, "b": b, "c": c, "p": a * b, "r": a * b + c}
        raise ValueError(f"unknown problem kind {self.kind!r}")

    @property
    def answer(self) -> int:
        return self.steps["r"]


def _operands(kind: str, rng: random.Random) -> tuple[int, ...]:
    """Operands >= 2 (so English/German plurals always fit) and non-negative results.

    Ranges are small on purpose: ~150 distinct arithmetic facts, so a tiny model trained from
    scratch on CPU learns them in minutes (and copying numbers is most of the work).
    """
    if kind == "add":
        return rng.randint(2, 12), rng.randint(2, 12)
    if kind == "sub":
        a = rng.randint(5, 15)
        return a, rng.randint(2, a - 1)
    if kind == "mul":
        return rng.randint(2, 6), rng.randint(2, 6)
    if kind == "add_sub":
        a, b = rng.randint(2, 10), rng.randint(2, 10)
        return a, b, rng.randint(2, a + b - 1)
    if kind == "mul_add":
        return rng.randint(2, 5), rng.randint(2, 5), rng.randint(2, 10)
    raise ValueError(f"unknown problem kind {kind!r}")


def generate_problems(n: int, seed: int = 0, kinds: Sequence[str] = KINDS) -> list[Problem]:
    """`n` distinct problems, the same list for the same seed (kinds drawn uniformly)."""
    bad = [k for k in kinds if k not in KINDS]
    if bad or not kinds:
        raise UserError(f"unknown problem kind(s) {', '.join(bad) or '(none given)'}; use some of {', '.join(KINDS)}")
    rng = random.Random(seed)
    seen: set[Problem] = set()
    out: list[Problem] = []
    for _ in range(50 * n + 100):  # the space holds ~5*10^4 problems; this bound only stops a runaway loop
        if len(out) == n:
            break
        kind = rng.choice(list(kinds))
        p = Problem(kind, rng.randrange(N_NAMES), rng.randrange(N_ITEMS), _operands(kind, rng))
        if p not in seen:
            seen.add(p)
            out.append(p)
    if len(out) < n:
        raise UserError(f"could only make {len(out)} distinct problems, asked for {n}; ask for fewer")
    return out


def ru_form(n: int, forms: tuple[str, str, str]) -> str:
    """Russian noun form after the number n: forms = (one, few, many), e.g. 1 яблоко, 3 яблока, 5 яблок."""
    if n % 10 == 1 and n % 100 != 11:
        return forms[0]
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return forms[1]
    return forms[2]


def _slots(problem: Problem, language: str) -> dict[str, object]:
    steps = problem.steps
    slots: dict[str, object] = {**steps, "N": NAMES[language][problem.name]}
    item = ITEMS[language][problem.item]
    if language in ("en", "de"):
        slots["I"] = item
    elif language in ("zh", "th"):
        slots["I"], slots["C"] = item
    elif language == "ru":
        slots["G"] = RU_GENITIVE[slots["N"]]
        slots["Im"] = item[2]
        for key, value in steps.items():
            slots[f"I{key}"] = ru_form(value, item)
        slots["Ba"] = ru_form(steps["a"], RU_BOX)
    elif language == "sw":
        slots["I"], slots["Q"] = item
    return slots


def answer_sentence(language: str, answer: int | str) -> str:
    """"The answer is 7." / "答案是 7。" / "คำตอบคือ 7": what every solution ends with."""
    return f"{ANSWER_PHRASES[language]} {answer}{SENTENCE_END.get(language, '.')}"


def render(problem: Problem, language: str) -> tuple[str, str]:
    """(question, step-by-step solution) of `problem` in `language`."""
    if language not in TEMPLATES:
        raise UserError(f"the tiny world has no language {language!r}; use some of {', '.join(WORLD_LANGUAGES)}")
    q_tpl, s_tpl = TEMPLATES[language][problem.kind]
    slots = _slots(problem, language)
    body = s_tpl.format(**slots)
    sep = "" if language == "zh" else " "  # Chinese runs sentences together after "。"
    return q_tpl.format(**slots), f"{body}{sep}{answer_sentence(language, problem.answer)}"


def world_rows(
    problems: Sequence[Problem], language: str, solution_language: str | None = None
) -> list[dict[str, str]]:
    """JSON-lines records {question, answer, solution} for one language, in problem order.

    solution_language: write the solution in that language instead (the mixed split: th question, en solution).
    """
    rows = []
    for p in problems:
        q, s = render(p, language)
        if solution_language is not None:
            s = render(p, solution_language)[1]
        rows.append({"question": q, "answer": str(p.answer), "solution": s})
    return rows


def manifest_dict(files_pattern: str, languages: Sequence[str], seed: int, sizes: dict[str, int]) -> dict:
    """The data manifest (mlreason.data.manifest schema) for files at `files_pattern` ({split}, {lang})."""
    return {
        "name": "tinyworld",
        "description": (f"Tiny multilingual arithmetic world (seed {seed}): templated 1-2 step word problems "
                        f"with worked solutions, parallel rows; sizes {sizes}"
                        + ("; split mixed: th/sw questions with English solutions" if "mixed" in sizes else "")),
        "license": "CC0 (generated by mlreason.data.tinyworld)",
        "citation": "",
        "homepage": "",
        "languages": list(languages),
        "splits": {split: {"files": files_pattern.replace("{split}", split)} for split in sizes},
        "default_split": "test",
        "format": "jsonl",
        "fields": {"question": "question", "answer": "answer", "solution": "solution"},
        "answer_type": "number",
    }


def write_world(out_dir: str | Path, manifest_path: str | Path, *, seed: int = 0, train_size: int = 2500,
                test_size: int = 200, mixed_size: int = 500, languages: Sequence[str] = WORLD_LANGUAGES,
                overwrite: bool = False) -> dict[str, Path]:
    """Write {train,test,mixed}_{lang}.jsonl under `out_dir` and the manifest; returns the written paths.

    Test problems are the first `test_size` of the seed's stream and never reappear in train; the
    mixed split (th/sw questions with English solutions, for those of `languages` that are in
    MIXED_LANGUAGES; mixed_size 0 = none) takes the `mixed_size` problems after train.
    """
    out, mpath = Path(out_dir), Path(manifest_path)
    unknown = [lang for lang in languages if lang not in WORLD_LANGUAGES]
    if unknown or not languages:
        raise UserError(f"unknown world language(s) {', '.join(unknown) or '(none)'}; "
                        f"use some of {', '.join(WORLD_LANGUAGES)}")
    if train_size < 1 or test_size < 1 or mixed_size < 0:
        raise UserError(f"train_size and test_size must be >= 1 and mixed_size >= 0 (got {train_size}, {test_size}, "
                        f"{mixed_size})")
    existing = sorted(out.glob("*.jsonl")) if out.is_dir() else []
    if (existing or mpath.exists()) and not overwrite:
        raise UserError(f"{out} or {mpath} already holds a world; pass --overwrite or choose another --out")
    # One stream, so adding the mixed split leaves the train and test files as they were.
    problems = generate_problems(test_size + train_size + mixed_size, seed)
    splits = {"train": problems[test_size:test_size + train_size], "test": problems[:test_size]}
    mixed_langs = [lang for lang in languages if lang in MIXED_LANGUAGES] if mixed_size else []
    if mixed_langs:
        splits["mixed"] = problems[test_size + train_size:]
    written: dict[str, Path] = {}
    for split, probs in splits.items():
        for lang in mixed_langs if split == "mixed" else languages:
            path = out / f"{split}_{lang}.jsonl"
            solution_language = MIXED_SOLUTION_LANGUAGE if split == "mixed" else None
            lines = (json.dumps(r, ensure_ascii=False) for r in world_rows(probs, lang, solution_language))
            atomic_write_text(path, "\n".join(lines) + "\n")
            written[f"{split}/{lang}"] = path
    rel = Path(os.path.relpath(out.resolve(), mpath.resolve().parent)).as_posix()
    header = (f"# Tiny multilingual reasoning world, generated by: mlreason make-world --out {out.as_posix()} "
              f"--seed {seed}\n# Row i is the same problem in every language. "
              "Load with: load_manifest(\"tinyworld\")\n")
    body = manifest_dict(f"{rel}/{{split}}_{{lang}}.jsonl", languages, seed, {k: len(v) for k, v in splits.items()})
    atomic_write_text(mpath, header + yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100))
    written["manifest"] = mpath
    return written
