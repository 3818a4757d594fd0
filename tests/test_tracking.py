"""Experiment tracking with a real offline tracker (TensorBoard): a tiny real run logs the trainers'
curves per step and its final metrics once; the values read back are the run's; turning tracking on
reuses every cached step."""

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from w2s_eval.cli import main
from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.protocol import run_experiment
from w2s_eval.resolve import validate
from w2s_eval.run_folder import read_run

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1",
        "strong_train.epochs=2", "strong_train.finetune=lora", "strong_train.train_args.logging_steps=1"]


def scalars(folder):
    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [e.value for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.mark.slow
def test_tensorboard_gets_each_steps_curves_and_the_final_metrics(tmp_path):
    flags = {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"}
    run = read_run(run_experiment(load_config(None, [*TINY, "tracking.report_to=[tensorboard]"], flags), tmp_path,
                                  quiet=True))
    for step in ("student", "ceiling"):  # one folder of curves per trained step
        assert len(scalars(tmp_path / "tracking" / run.id / step)["train/loss"]) >= 2  # 2 epochs of 3 steps
    final = scalars(tmp_path / "tracking" / run.id / "metrics")
    assert final["w2s/student_acc"] == [pytest.approx(run.metrics["student"]["acc"])]
    assert final["w2s/ceiling_acc"] == [pytest.approx(run.metrics["ceiling"]["acc"])]
    assert final["w2s/gap"] == [pytest.approx(run.metrics["gap"])]
    # Tracking changes nothing that is trained: without it, the same run folder, every step reused.
    plain = read_run(run_experiment(load_config(None, TINY, flags), tmp_path, quiet=True))
    assert plain.folder == run.folder and plain.metrics["steps"] == run.metrics["steps"]
    events = [line for line in (run.folder / "log.jsonl").read_text().splitlines() if '"step_start"' in line]
    assert len(events) == 4  # weak, label, student, ceiling: trained once, by the tracked run


def test_unknown_or_missing_trackers_fail_before_training(tmp_path, capsys):
    with pytest.raises(UserError, match="expected none or any of tensorboard"):
        validate(load_config(None, ["tracking.report_to=[comet]"], {}))
    code = main(["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp_path),
                 "--report-to", "trackio"])
    assert code == 2 and "'trackio' package is not installed" in capsys.readouterr().err
