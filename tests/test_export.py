"""``w2s-eval export-model``: a real run's LoRA student, merged, loads with ``from_pretrained`` and
gives the run's own test predictions; the kept adapter loads with PEFT; the model card names the
weak supervisor and the PGR; a probe is refused with a clear line."""

import numpy as np
import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from w2s_eval.cli import main
from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.export import export_model, exported_precision
from w2s_eval.models.resolve import resolve_model
from w2s_eval.precision import autocast
from w2s_eval.protocol import run_experiment
from w2s_eval.run_folder import read_run
from w2s_eval.tasks import get_task

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1",
        "strong_train.epochs=1", "strong_train.finetune=lora"]


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def run(request, tmp_path_factory):
    """A tiny run whose strong model computes in each precision, whatever this CPU has."""
    cfg = load_config(None, TINY + [f"strong_train.precision={request.param}"],
                      {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    return read_run(run_experiment(cfg, tmp_path_factory.mktemp("runs"), quiet=True))


def probabilities(folder, texts, precision="fp32"):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.inference_mode(), autocast(precision):
        logits = model(**tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")).logits
    return torch.softmax(logits.float(), -1)[:, 1].numpy()


@pytest.mark.slow
def test_the_exported_student_loads_and_predicts_as_in_the_run(run, tmp_path):
    """In the precision the run recorded, the exported student gives the run's own probabilities."""
    assert main(["export-model", str(run.folder), str(tmp_path / "student")]) == 0
    predictions = run.predictions().head(8)
    frame = get_task("toxicity").load()[0].set_index("id")
    texts = frame.loc[predictions["id"], "text"].tolist()
    recorded = exported_precision(tmp_path / "student")
    assert recorded == run.metrics["precision"]["strong"]
    # Merging rounds W + BA once where the run rounded W and BA apart: exact in fp32, not in bf16.
    merged_tolerance = {"fp32": 1e-4, "bf16": 2e-3}[recorded]
    assert np.allclose(probabilities(tmp_path / "student", texts, recorded), predictions["student"],
                       atol=merged_tolerance)
    assert not (tmp_path / "student" / "adapter_config.json").exists()  # merged: a plain transformers folder

    card = (tmp_path / "student" / "README.md").read_text()
    pgr = run.metrics["pgr"]
    assert "Weak supervisor: `tfidf`" in card and "strong model: `minilm-l6`" in card
    assert "PGR" in card and (f"{pgr['value']:.3f}" in card if pgr["value"] is not None else "n/a" in card)
    assert "base_model:" in card and "torch " in card  # hub metadata and provenance
    assert f"Computed in {recorded}" in card

    kept = export_model(run.folder, "ceiling", tmp_path / "ceiling", merge=False)
    assert (kept / "adapter_config.json").exists()
    from peft import PeftModel

    base = AutoModelForSequenceClassification.from_pretrained(resolve_model("minilm-l6").location, num_labels=2)
    student = PeftModel.from_pretrained(base, export_model(run.folder, "student", tmp_path / "adapter", merge=False))
    tokenizer = AutoTokenizer.from_pretrained(kept)
    with torch.inference_mode(), autocast(recorded):  # the adapter kept: the run's own arithmetic, in each precision
        logits = student.eval()(**tokenizer(texts, padding=True, truncation=True, max_length=128,
                                            return_tensors="pt")).logits
    assert np.allclose(torch.softmax(logits.float(), -1)[:, 1].numpy(), predictions["student"], atol=1e-4)
    assert f"Computed in {recorded}" in (tmp_path / "adapter" / "README.md").read_text()


def test_a_tfidf_model_is_refused_in_one_line(tmp_path):
    cfg = load_config(None, TINY[:3], {"task": "toxicity", "weak_model": "tfidf", "strong_model": "tfidf"})
    run = read_run(run_experiment(cfg, tmp_path, quiet=True))
    with pytest.raises(UserError, match="TF-IDF bag-of-words model, not a transformers model"):
        export_model(run.folder, "student", tmp_path / "student")
