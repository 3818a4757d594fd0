"""A task is declared once, as a registered ``Task``: its shipped data and licences (``embedded.shipped``)
and its lm-eval harness task (``lm_eval_tasks``, the ``w2s`` group) all follow from the registry."""

from pathlib import Path

import pandas as pd
import yaml
from lm_eval.tasks import TaskManager

from w2s_eval import harness
from w2s_eval.config import load_config, packaged_yaml
from w2s_eval.lm_eval_tasks import GROUP, harness_name
from w2s_eval.splits import assign_splits, unit_hash
from w2s_eval.tasks import TASKS, embedded, get_task
from w2s_eval.tasks.base import Task


def group_members(folder: str) -> list[str]:
    return yaml.safe_load((Path(folder) / f"{GROUP}.yaml").read_text())["task"]


def test_every_registered_task_has_loader_shipped_data_licence_and_lm_eval_task():
    folder = harness.tasks_path()
    listed = TaskManager(include_path=folder, include_defaults=False).all_subtasks
    index = embedded.shipped()
    for name, task in TASKS.items():
        assert callable(task.load_local) and callable(task.load_hub), name
        assert index[name].frame.is_file(), f"{name}: no shipped data"
        assert index[name].licences and all(path.is_file() for path in index[name].licences), f"{name}: no licence"
        assert harness_name(name) in listed and harness_name(name) in group_members(folder), name
    assert group_members(folder) == [harness_name(name) for name in TASKS]
    # Per-task defaults (configs/overrides.yaml) name only registered tasks.
    assert set(packaged_yaml("overrides.yaml")["tasks"]) <= set(TASKS)


def tiny_frame() -> pd.DataFrame:
    return pd.DataFrame({"id": [f"tiny-{i}" for i in range(60)], "text": [f"statement number {i}" for i in range(60)],
                         "label": [i % 2 for i in range(60)], "group": [f"g{i}" for i in range(60)]})


def test_a_task_registered_once_is_shipped_and_an_lm_eval_task(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "tiny").mkdir(parents=True)
    tiny_frame().to_csv(mirror / "tiny" / "tiny.csv", index=False)
    (mirror / "tiny" / "LICENSE").write_text("CC0\n")
    task = Task(name="tiny", description="tiny: is the number odd?", local_subdir="tiny", hub_dataset="nobody/tiny",
                load_local=lambda folder: pd.read_csv(folder / "tiny.csv"), load_hub=tiny_frame,
                label_names=("even", "odd"), question="Is the number even or odd?", licence_files=("LICENSE",))
    monkeypatch.setitem(TASKS, "tiny", task)
    monkeypatch.setattr(embedded, "DATA_DIR", tmp_path / "package-data")
    monkeypatch.setenv("W2S_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("W2S_DATA_DIR", raising=False)

    # Registry and shipped-data index.
    assert get_task("tiny") is task
    entry = embedded.shipped()["tiny"]
    assert entry == embedded.Shipped(tmp_path / "package-data" / "tiny.parquet",
                                     (tmp_path / "package-data" / "licenses" / "tiny-LICENSE",))
    assert embedded.write_embedded(mirror, ["tiny"]) == [entry.frame, *entry.licences]
    frame, source = task.load()
    assert source.startswith("embedded:tiny") and entry.licences[0].read_text() == "CC0\n"

    # The generated harness tasks: lm-eval lists it, the group has it, and its documents are the
    # test split w2s-eval makes, phrased with the default prompt (text, then the question).
    folder = harness.tasks_path()
    assert Path(folder).is_relative_to(tmp_path / "cache")
    manager = TaskManager(include_path=folder, include_defaults=False)
    assert "w2s_tiny" in manager.all_subtasks and "w2s_tiny" in group_members(folder)
    lm_task = manager.load(["w2s_tiny"])["tasks"]["w2s_tiny"]
    cfg = load_config(None, [], {"task": "tiny"})
    split = assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split)
    test_ids = split.loc[split["split"] == "test", "id"]
    docs = lm_task.eval_docs
    assert len(test_ids) and docs["id"] == sorted(test_ids, key=lambda i: (unit_hash("order", cfg.seed, i), i))
    doc = docs[0]
    assert lm_task.fewshot_context(doc, 0) == f"{doc['text']}\nQuestion: Is the number even or odd?\nAnswer:"
    assert lm_task.doc_to_choice(doc) == ["even", "odd"] and lm_task.doc_to_target(doc) == doc["label"]
