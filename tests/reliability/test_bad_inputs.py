"""Bad inputs, as a table: each is a one-line error naming the flag, key or file and what was
expected, exit status 2, no traceback, and nothing written — before any data or model is loaded."""

import pytest

from w2s_eval.cli import main

RUN = ["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "tfidf"]

CASES = [  # (extra arguments, what the error must say)
    (["--threads", "-1"], "threads: expected a positive number of threads"),
    (["--seed", "-2"], "seed: expected a non-negative integer"),
    (["--set", "eval.n_bootstrap=0"], "eval.n_bootstrap: expected at least 10"),
    (["--set", "eval.level=1.5"], "eval.level: expected a confidence level between 0 and 1"),
    (["--set", "strong_train.epochs=-1"], "strong_train.epochs: expected a positive number of epochs"),
    (["--set", "weak_train.lr=0"], "weak_train.lr: expected a positive learning rate"),
    (["--set", "strong_train.batch_size=0"], "strong_train.batch_size: expected a positive batch size"),
    (["--set", "splits.max_per_split={A: 60, tst: 5}"], "splits.max_per_split: unknown split 'tst'"),
    (["--set", "splits.max_per_split={A: -3}"], "splits.max_per_split.A: expected a positive number"),
    (["--set", "splits.max_per_split={A: 60"], "the value is not valid YAML"),
    (["--set", "strong_train.train_args.no_such_field=1"], "'no_such_field' is not a field"),
    (["--set", "tracking.report_to=[comet]"], "expected none or any of tensorboard"),
    (["--set", "strong_train.finetune=sideways"], "strong_train.finetune: unknown mode 'sideways'"),
    (["--method", "confident:share=2"], "share"),
    (["--conflict", "implicit"], "judges reply pairs"),
    (["--config", "."], "is a folder; expected a YAML file"),
]


@pytest.mark.parametrize("extra, expected", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_with_status_2(extra, expected, tmp_path, capsys):
    assert main([*RUN, "--out", str(tmp_path / "runs"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("w2s-eval: error: ") and len(err.splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "runs").exists()  # checked before anything was written


@pytest.mark.parametrize("content, expected", [
    (b"text,label\na,1\nb,1\n", "every label is 1; a task needs examples of both classes"),
    (b"\xff\xfe\x00bad", "cannot read it"),
])
def test_bad_data_files_are_one_line(content, expected, tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_bytes(content)
    assert main(["run", "--data", str(data), "--out", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
