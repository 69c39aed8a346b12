"""Per-language text for probe-layers: manifest questions or plain text files, read lazily.

    texts = load_texts(ProbeData(manifests=["mgsm"], languages=["en", "de"]))   # {"en": [...], ...}
    texts = load_texts(ProbeData(text_files={"en": "en.txt", "de": "de.txt"}))  # one document per line

    docs = load_image_texts(ProbeData(manifests=["mmworld"], corpus="image+text"))   # {"en": [(question, image)]}

Several manifests are concatenated per language (MGSM + MSVAMP by default); a language missing
from some manifests takes what the others have. A language with no text at all is a UserError.
An image+text corpus (`data.corpus`) pairs each question with its row's image; every manifest needs an
image field.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from mlreason.errors import UserError
from mlreason.probing.config import ProbeData


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield line.rstrip("\n")


class TextFile(Iterable[str]):
    """Non-blank lines of a UTF-8 file; iterable more than once, never held in memory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __iter__(self) -> Iterator[str]:
        return _lines(self.path)


def _file_texts(data: ProbeData) -> dict[str, Iterable[str]]:
    languages = data.languages or list(data.text_files)
    out: dict[str, Iterable[str]] = {}
    for lang in languages:
        if lang not in data.text_files:
            raise UserError(f"language {lang!r} has no text: add data.text_files.{lang}=PATH "
                            "or drop it from data.languages")
        path = Path(data.text_files[lang])
        if not path.is_file():
            raise UserError(f"data.text_files.{lang}: file not found: {path}")
        try:
            next(_lines(path))
        except StopIteration:
            raise UserError(f"language {lang!r} has no text: {path} is empty; "
                            "give a file with one document per line") from None
        except UnicodeDecodeError:
            raise UserError(f"data.text_files.{lang}: {path} is not UTF-8 text") from None
        out[lang] = TextFile(path)
    return out


def _manifest_texts(data: ProbeData, images: bool = False) -> dict[str, list]:
    """Language -> questions (images: (question, image reference) pairs)."""
    from mlreason.data.manifest import load_examples, load_manifest

    if not data.manifests:
        raise UserError("no data: set data.manifests (e.g. [mgsm]) or data.text_files")
    manifests = [load_manifest(name) for name in data.manifests]
    if images:
        without = [m.name for m in manifests if not _has_images(m)]
        if without:
            raise UserError(f"data.corpus image+text needs manifests with an image field; {', '.join(without)} "
                            "has none (use an image manifest such as mmworld, or data.corpus=text)")
    every = list(dict.fromkeys(lang for m in manifests for lang in m.languages))
    languages = data.languages or every
    out: dict[str, list[str]] = {}
    for lang in languages:
        if lang not in every:
            raise UserError(f"language {lang!r} has no text in manifests {', '.join(data.manifests)} "
                            f"(they have {', '.join(every)}); drop it or give data.text_files.{lang}")
        out[lang] = []
    for m in manifests:
        langs = [lang for lang in languages if lang in m.languages]
        if not langs:
            continue
        examples = load_examples(m, languages=langs, split=data.split, limit=data.max_examples)
        for lang, rows in examples.items():
            out[lang].extend((ex.question, ex.image) if images else ex.question
                             for ex in rows if ex.question and ex.question.strip())
    empty = [lang for lang, texts in out.items() if not texts]
    if empty:
        raise UserError(f"language(s) {', '.join(empty)} have no text in the chosen split; "
                        "drop them from data.languages")
    return out


def _has_images(manifest) -> bool:
    every = [manifest.fields] + [s.hub.fields for s in manifest.splits.values() if s.hub and s.hub.fields]
    return all(f.image for f in every)


def load_image_texts(data: ProbeData) -> dict[str, list[tuple[str, object]]]:
    """Language -> (question, image reference) per manifest row, in data.languages order (data.corpus image+text)."""
    if data.text_files:
        raise UserError("data.corpus image+text reads manifests with images; data.text_files are text only "
                        "(drop them, or set data.corpus=text)")
    texts = _manifest_texts(data, images=True)
    if len(texts) < 2:
        raise UserError(f"probe-layers compares languages and got {len(texts)}; give at least two in data.languages")
    return texts


def load_texts(data: ProbeData) -> dict[str, Iterable[str]]:
    """Language -> documents, in data.languages order (text files win over manifests)."""
    texts = _file_texts(data) if data.text_files else _manifest_texts(data)
    if len(texts) < 2:
        raise UserError(f"probe-layers compares languages and got {len(texts)}; give at least two in data.languages")
    return texts
