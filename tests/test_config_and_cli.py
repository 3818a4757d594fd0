"""Config layering and the command line's answers to bad input: one clear line, exit status 2."""

import json

import pytest

from w2s_eval.cli import main
from w2s_eval.config import load_config
from w2s_eval.errors import UserError


def test_layers_override_in_order(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("task: legal\nstrong_train: {epochs: 1}\nloss: {name: logconf}\n")
    cfg = load_config(str(path), ["strong_train.epochs=2", "eval.min_gap=0.1"], {"task": "safety", "seed": None})
    assert cfg.task == "safety"  # flag beats file
    assert cfg.strong_train.epochs == 2.0  # --set beats file
    assert cfg.loss.name == "logconf" and cfg.eval.min_gap == 0.1
    assert cfg.strong_train.finetune == "lora"  # packaged default kept
    assert cfg.seed == 0  # an unset flag changes nothing


def test_unknown_key_names_the_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("strong_train: {epoks: 1}\n")
    with pytest.raises(UserError, match=r"bad.yaml: unknown key 'strong_train.epoks'.*epochs"):
        load_config(str(path))


def test_wrong_type_names_the_key():
    with pytest.raises(UserError, match=r"strong_train.batch_size: expected int"):
        load_config(None, ["strong_train.batch_size=big"])


def test_missing_config_file():
    with pytest.raises(UserError, match="config file /no/such/file.yaml: no such file or folder; expected a YAML file"):
        load_config("/no/such/file.yaml")


@pytest.mark.parametrize("argv, expected", [
    (["run", "--task", "sarcasm"], "valid choices: legal, reward, safety, toxicity"),
    (["run", "--gap", "huge"], "valid choices: bootstrap, large, lm-bootstrap, lm-large, lm-small, medium, small"),
    (["run", "--profile", "tpu"], "profile: expected one of auto, cpu, gpu, got 'tpu'"),
    (["run", "--loss", "magic"], "valid choices: logconf, product, xent"),
    (["run", "--paradigm", "rlhf"], "valid choices: classify"),
    (["run", "--weak", "gpt-17"], "unknown model 'gpt-17'"),
    (["run", "--set", "nope=1"], "unknown key 'nope'"),
    (["run", "--set", "strong_train.finetune=half"], "strong_train.finetune: expected one of full, lora, head, probe, got 'half'"),
    (["run", "--set", "student.epochs=0"], "student.epochs: expected a positive number or null"),
    (["models", "path", "bert-huge"], "valid choices: embeddinggemma-300m, gemma3-270m, minilm-l6, mpnet-base, qwen2.5-0.5b, qwen2.5-1.5b, smollm2-135m"),
])
def test_bad_names_give_one_line_and_status_2(capsys, tmp_path, argv, expected):
    assert main(argv + (["--out", str(tmp_path)] if argv[0] == "run" else [])) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("name, content, expected", [
    ("missing.csv", None, "no such file"),
    ("empty.csv", "", "cannot read it"),
    ("header_only.csv", "text,label\n", "no rows"),
    ("nolabel.csv", "text,target\nhello,1\n", r"missing column\(s\) \['label'\]; the file has columns \['text', 'target'\]"),
    ("badlabel.jsonl", '{"text": "a", "label": "maybe"}\n', "must hold binary labels"),
    ("data.txt", "hello", "unsupported file type"),
])
def test_bad_data_files_name_the_file_and_columns(capsys, tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert main(["run", "--data", str(path), "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert __import__("re").search(expected, err), err


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_user_data_is_read_as_written(tmp_path, suffix):
    """Ids, groups and texts as the file wrote them: 007 stays 007 (not 7 or 7.0), 12 stays 12, a
    text that looks like a number stays text; the ids join the predictions to the user's rows."""
    from w2s_eval.tasks.custom import custom_task

    rows = [("007", "a1", "1.50", 1), ("12", "a1", "nan", 0), ("x-3", "b2", "hello there", 1), ("4", "b2", "NULL", 0)]
    path = tmp_path / f"mine{suffix}"
    if suffix == ".csv":
        path.write_text("id,g,text,label\n" + "".join(f"{i},{g},{t},{y}\n" for i, g, t, y in rows))
    else:
        path.write_text("".join(json.dumps({"id": i, "g": g, "text": t, "label": y}) + "\n" for i, g, t, y in rows))
    frame, _ = custom_task(str(path), id_field="id", group_field="g").load()
    assert frame["id"].tolist() == ["007", "12", "x-3", "4"]
    assert frame["group"].tolist() == ["a1", "a1", "b2", "b2"]
    assert frame["text"].tolist() == ["1.50", "nan", "hello there", "NULL"]
    assert frame["label"].tolist() == [1, 0, 1, 0]


def test_tasks_command_lists_sizes_and_sources(capsys, data_dir):
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("safety", "toxicity", "legal", "reward"):
        assert name in out
    assert "hub: toxigen/toxigen-data" in out and str(data_dir) in out


def test_an_unusable_model_cache_is_one_line_before_any_work(tmp_path, monkeypatch, capsys):
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("W2S_CACHE_DIR", str(tmp_path / "afile" / "cache"))
    argv = ["run", "--task", "toxicity", "--weak", "tfidf", "--strong", "tfidf", "--out", str(tmp_path / "runs")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the model cache (set W2S_CACHE_DIR to move it)" in err
    assert "which is a file; expected a folder" in err and not (tmp_path / "runs").exists()
