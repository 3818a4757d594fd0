"""``train_args`` reach the real HF Trainer; the cache key holds the fields that change results and
not the ones that only change logging; an unknown field is a one-line error before training."""

import json

import pytest

from w2s_eval.cli import main
from w2s_eval.config import TrainConfig, load_config
from w2s_eval.errors import UserError
from w2s_eval.protocol import run_experiment
from w2s_eval.run_folder import read_run

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1",
        "strong_train.epochs=1", "strong_train.finetune=lora"]


def run(out, *sets):
    cfg = load_config(None, [*TINY, *sets], {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    return read_run(run_experiment(cfg, out, quiet=True))


def optimizer_steps(run, step: str) -> int:
    history = json.loads((run.step_folder(step) / "step.json").read_text())["history"]
    return [h["optimizer_steps"] for h in history if "optimizer_steps" in h][-1]


def test_cache_identity_keeps_what_changes_results():
    plain = TrainConfig()
    assert plain.cache_identity()["train_args"] == {}
    logging_only = TrainConfig(train_args={"report_to": ["tensorboard"], "logging_steps": 1, "run_name": "x",
                                           "save_total_limit": 2})
    assert logging_only.cache_identity() == plain.cache_identity()
    accumulate = TrainConfig(train_args={"gradient_accumulation_steps": 4, "report_to": []})
    assert accumulate.cache_identity()["train_args"] == {"gradient_accumulation_steps": 4}


@pytest.mark.slow
def test_train_args_reach_the_trainer_and_the_cache_key(tmp_path):
    plain = run(tmp_path)
    # 48 examples of B, batch 16, one epoch: 3 optimizer steps; accumulating 3 batches makes one.
    assert optimizer_steps(plain, "student") == 3 and optimizer_steps(plain, "ceiling") == 3
    accumulated = run(tmp_path, "strong_train.train_args.gradient_accumulation_steps=3")
    assert optimizer_steps(accumulated, "student") == 1 and optimizer_steps(accumulated, "ceiling") == 1
    assert accumulated.metrics["steps"]["student"] != plain.metrics["steps"]["student"]
    assert accumulated.metrics["steps"]["weak"] == plain.metrics["steps"]["weak"]  # the weak model's args did not change
    # Logging settings alone reuse every step of the plain run.
    logged = run(tmp_path, "strong_train.train_args.logging_steps=1", "strong_train.train_args.report_to=[]")
    assert logged.metrics["steps"] == plain.metrics["steps"]
    assert logged.metrics["student"] == plain.metrics["student"]


def test_an_unknown_train_arg_is_one_line_before_training(capsys, tmp_path):
    code = main(["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp_path),
                 "--set", "strong_train.train_args.gradient_acumulation_steps=2"])
    err = capsys.readouterr().err
    assert code == 2 and "strong_train.train_args: 'gradient_acumulation_steps' is not a field" in err
    assert not any(tmp_path.iterdir())  # nothing ran
    with pytest.raises(UserError, match="expected a mapping"):
        from w2s_eval.trainers.common import check_train_args
        check_train_args([1], "weak_train.train_args")
