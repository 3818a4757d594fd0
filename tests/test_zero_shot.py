"""The zero-shot row: the strong model untrained, answering the task's question as the sft paradigm
scores an answer, beside weak / student / ceiling in runs whose strong model is a causal LM; absent
(not an error) for encoders and the bag-of-words model. Real models and data, tiny slices."""

import json

import numpy as np
import pandas as pd
import pytest

from w2s_eval.cli import main
from w2s_eval.config import TrainConfig, load_config
from w2s_eval.eval.metrics import accuracy
from w2s_eval.models.resolve import is_causal_lm, resolve_model
from w2s_eval.protocol import prepare, run_experiment
from w2s_eval.resolve import resolve_run
from w2s_eval.results import summary_table
from w2s_eval.reports import build_report
from w2s_eval.run_folder import read_run
from w2s_eval.sweeps import aggregate, run_summary
from w2s_eval.trainers.sft import SFTModel

# As tests/test_paradigms.py's tiny sft run: 16 examples per split, one epoch.
TINY = ["splits.max_per_split={A: 16, B: 16, val: 8, test: 16}", "strong_train.epochs=1", "weak_train.epochs=1",
        "strong_train.max_length=96", "strong_train.batch_size=8", "strong_train.lora_r=4", "eval.n_bootstrap=50",
        "threads=1", "strong_train.warmup=0"]


def sft_config(*sets, **flags):
    return load_config(None, TINY + list(sets), {"task": "toxicity", "paradigm": "sft", "weak_model": "tfidf",
                                                 "strong_model": "smollm2-135m"} | flags)


def latest_events(run_dir) -> list[dict]:
    log = [json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()]
    last_start = max(i for i, e in enumerate(log) if e["event"] == "start")
    return log[last_start:]


@pytest.mark.parametrize("value, expected", [
    ("always", "zero_shot: expected auto (a zero-shot row when the strong model is a causal LM) or none, got 'always'"),
    ("off", "zero_shot: expected str, got False"),  # YAML reads off / on as booleans
])
def test_a_bad_zero_shot_value_is_one_line_naming_the_field(capsys, tmp_path, value, expected):
    assert main(["run", "--set", f"zero_shot={value}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_only_causal_lms_have_answer_words():
    assert is_causal_lm(resolve_model("smollm2-135m")) and is_causal_lm(resolve_model("gemma3-270m"))
    assert not is_causal_lm(resolve_model("minilm-l6")) and not is_causal_lm(resolve_model("tfidf"))


def test_none_names_another_run():
    from w2s_eval.resolve import run_id_of

    flags = {"task": "toxicity", "profile": "cpu"}
    assert run_id_of(load_config(None, ["zero_shot=none"], flags)) != run_id_of(load_config(None, [], flags))


@pytest.fixture(scope="module")
def sft_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    return out, run_experiment(sft_config(), out, quiet=True)


@pytest.mark.slow
def test_the_zero_shot_column_is_the_sft_scorer_of_the_untrained_model(sft_run):
    _, run_dir = sft_run
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert list(predictions.columns) == ["id", "label", "weak", "student", "ceiling", "zero_shot"]
    cfg = sft_config()
    prepared = prepare(resolve_run(cfg))
    test = prepared.split("test")
    # The student's own model before its first step: smollm2 with a fresh LoRA adapter, scored by sft.
    untrained = SFTModel(prepared.strong.location, TrainConfig(finetune="lora", lora_r=4, max_length=96,
                                                               precision=cfg.strong_train.precision),
                         seed=0).configure(prepared.task)
    expected = pd.Series(untrained.predict_proba(test), index=test["id"])
    assert predictions["zero_shot"].to_numpy() == pytest.approx(expected.loc[predictions["id"]].to_numpy(), abs=1e-6)
    assert predictions["zero_shot"].between(0, 1).all() and predictions["zero_shot"].nunique() > 1

    metrics = read_run(run_dir).metrics
    labels = predictions["label"].to_numpy()
    assert metrics["zero_shot"]["acc"] == pytest.approx(accuracy(labels, predictions["zero_shot"]))
    versus = metrics["student_vs_zero_shot"]
    assert versus["value"] == pytest.approx(metrics["student"]["acc"] - metrics["zero_shot"]["acc"])
    assert versus["ci_low"] <= versus["value"] <= versus["ci_high"] and versus["n_boot"] == 50
    assert versus["verdict"]
    assert metrics["steps"]["zero_shot"] and "zero_shot" in metrics["memory"]
    # PGR is still weak, student and ceiling only
    assert metrics["gap"] == pytest.approx(metrics["ceiling"]["acc"] - metrics["weak"]["acc"])

    table = summary_table(metrics)
    assert f"zero-shot  {metrics['zero_shot']['acc']:.3f}" in table and "student − zero-shot" in table
    # the imitation numbers are a student's: the zero-shot model gets none
    assert "zero_shot" not in json.loads((run_dir / "deception.json").read_text()).get("others", {})


@pytest.mark.slow
def test_a_rerun_reuses_the_zero_shot_step_and_none_skips_it(sft_run):
    out, first = sft_run
    # The student's learning rate changes only the student: the zero-shot step is reused, as the rest.
    second = run_experiment(sft_config("student.lr=0.001"), out, quiet=True)
    cached = {e["step"] for e in latest_events(second) if e["event"] == "step_cached"}
    assert cached == {"weak", "label", "ceiling", "zero_shot"}
    assert read_run(second).metrics["steps"]["zero_shot"] == read_run(first).metrics["steps"]["zero_shot"]
    third = run_experiment(sft_config("zero_shot=none"), out, quiet=True)
    assert third != first and "zero_shot" not in pd.read_parquet(third / "predictions.parquet")
    assert "zero_shot" not in read_run(third).metrics


@pytest.mark.slow
def test_the_report_and_the_sweep_row_show_the_zero_shot_model(sft_run):
    _, run_dir = sft_run
    metrics = read_run(run_dir).metrics
    md, _ = build_report(run_dir)
    text = md.read_text()
    assert "(zero-shot) was" in text and "| zero-shot | student − zero-shot |" in text
    row = run_summary(run_dir)
    assert row["zero_shot_acc"] == pytest.approx(metrics["zero_shot"]["acc"])
    assert row["student_vs_zero_shot"] == pytest.approx(metrics["student_vs_zero_shot"]["value"])
    row = {"task": "toxicity", "gap": "large", "paradigm": "sft", "loss": "xent", "method": "naive",
           "conflict": "none", "seed": 0, "status": "done", **row}
    pooled = aggregate(pd.DataFrame([row]), n_boot=50).set_index("metric")
    assert pooled.loc["zero_shot_acc", "mean"] == pytest.approx(metrics["zero_shot"]["acc"])
    assert np.isfinite(pooled.loc["student_vs_zero_shot", "ci_low"])


@pytest.mark.slow
def test_an_encoder_run_has_no_zero_shot_row_and_still_reports(tmp_path):
    cfg = load_config(None, ["splits.max_per_split={A: 32, B: 32, val: 16, test: 32}", "strong_train.epochs=1",
                             "strong_train.max_length=48", "eval.n_bootstrap=50", "threads=1"],
                      {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    run_dir = run_experiment(cfg, tmp_path, quiet=True)
    assert list(pd.read_parquet(run_dir / "predictions.parquet").columns) == ["id", "label", "weak", "student", "ceiling"]
    metrics = read_run(run_dir).metrics
    assert "zero_shot" not in metrics and "student_vs_zero_shot" not in metrics and "zero_shot" not in metrics["steps"]
    assert any(e["event"] == "zero_shot_skipped" for e in latest_events(run_dir))
    assert "zero-shot" not in summary_table(metrics)
    md, _ = build_report(run_dir)
    assert "| zero-shot |" not in md.read_text() and "(zero-shot) was" not in md.read_text()
    row = run_summary(run_dir)
    assert "zero_shot_acc" not in row and "zero_shot_table" not in row
