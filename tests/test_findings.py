"""benchmarks/findings.py: finding 2 (logconf vs xent) is measured with the students' epoch chosen on
the weak labels of val and without any selection, as openai/weak-to-strong trains. One seed of a
tiny real sweep (TF-IDF → MiniLM-L6 fine-tuned, two epochs so that there is an epoch to choose)."""

import importlib.util
import json
import sys
from argparse import Namespace
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def findings_module():
    spec = importlib.util.spec_from_file_location("findings", REPO / "benchmarks" / "findings.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["findings"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_finding_2_is_reported_with_and_without_the_weak_val_epoch_selection(tmp_path):
    findings = findings_module()
    sets = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_model=minilm-l6",
            "strong_train.epochs=2", "strong_train.max_length=48", "strong_train.batch_size=16",
            "loss.warmup_frac=0.5"]
    args = Namespace(set=sets, n_boot=100, out=str(tmp_path), threads=1, quiet=True, ladder="encoder")
    both = {selection: findings.loss_finding([0], args, selection) for selection in ("on", "off")}
    assert "epoch chosen on the weak labels of val" in both["on"]["finding"]
    assert "no epoch selection" in both["off"]["finding"]
    for selection, finding in both.items():
        assert finding["statistic"] == "PGR(logconf) − PGR(xent), paired" and finding["seeds"] == 1
        selected, checked = selection == "on", 0
        for run_dir in sorted((tmp_path / "runs").glob("toxicity-large-classify-*")):
            config = (run_dir / "config.yaml").read_text()
            if ("select_on_val: false" in config) == selected:
                continue  # the other selection's run
            metrics = json.loads((run_dir / "metrics.json").read_text())
            step = json.loads((tmp_path / "runs" / ".cache" / f"student-{metrics['steps']['student']}" / "step.json")
                              .read_text())
            chose = any("val_loss" in entry for entry in step["history"])
            assert chose == selected, f"{run_dir.name}: the student chose its epoch on val: {chose}"
            checked += 1
        assert checked == 2  # the xent and the logconf student
    table = findings.write_table(list(both.values()), str(tmp_path))
    assert table.count("2. logconf beats xent") == 2
