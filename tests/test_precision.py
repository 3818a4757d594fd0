"""precision: auto | fp32 | bf16 — resolved per machine, in the cache keys, and real bf16 training,
scoring and probe embeddings (bfloat16 autocast runs on any CPU; it is fast only on AMX/AVX512-BF16)."""

import json

import numpy as np
import pytest

from w2s_eval import precision
from w2s_eval.config import TrainConfig, load_config
from w2s_eval.errors import UserError
from w2s_eval.models.resolve import resolve_model
from w2s_eval.protocol import run_experiment
from w2s_eval.tasks import get_task
from w2s_eval.trainers.bow import ProbeClassifier
from w2s_eval.trainers.classify import TransformerClassifier
from w2s_eval.trainers.common import training_kwargs


def test_auto_is_bf16_exactly_where_it_is_native():
    assert precision.resolve("auto") == ("bf16" if precision.native_bf16() else "fp32")
    assert precision.resolve("fp32") == "fp32" and precision.resolve("bf16") == "bf16"
    with pytest.raises(UserError, match="precision: expected one of auto, fp32, bf16, got 'fp16'"):
        precision.resolve("fp16")


@pytest.mark.parametrize("forced, expected", [("1", "bf16"), ("0", "fp32")])
def test_native_bf16_can_be_forced_so_one_machine_runs_as_the_other_kind(monkeypatch, forced, expected):
    monkeypatch.setenv(precision.NATIVE_BF16_ENV, forced)
    assert precision.resolve("auto") == expected
    assert TrainConfig(precision="auto").cache_identity() == TrainConfig(precision=expected).cache_identity()
    monkeypatch.setenv(precision.NATIVE_BF16_ENV, "yes")
    with pytest.raises(UserError, match="W2S_NATIVE_BF16: expected 1 .* got 'yes'"):
        precision.resolve("auto")


def test_cache_keys_hold_the_resolved_precision():
    fp32, bf16 = TrainConfig(precision="fp32").cache_identity(), TrainConfig(precision="bf16").cache_identity()
    assert fp32["precision"] == "fp32" and bf16["precision"] == "bf16"
    assert TrainConfig(precision="auto").cache_identity() == TrainConfig(precision=precision.resolve("auto")).cache_identity()
    assert training_kwargs(TrainConfig(precision="bf16"), 0, None)["bf16"] is True
    assert training_kwargs(TrainConfig(precision="fp32"), 0, None)["bf16"] is False


@pytest.fixture(scope="module")
def statements(data_dir):
    return get_task("toxicity").load(data_dir)[0].sample(48, random_state=0)


@pytest.mark.slow
def test_bf16_trains_and_scores_like_fp32(statements, tmp_path):
    """The same MiniLM fine-tune in fp32 and in bf16: the bf16 model scores under autocast, its
    probabilities stay close to fp32's, and it saves and loads back in bf16."""
    location = resolve_model("minilm-l6").location
    train, test = statements.iloc[:32], statements.iloc[32:]
    probs = {}
    for name in ("fp32", "bf16"):
        cfg = TrainConfig(epochs=1, batch_size=16, max_length=48, precision=name, select_on_val=False)
        model = TransformerClassifier(location, cfg, seed=0)
        model.fit(train, train["label"].to_numpy(float), work_dir=tmp_path / name)
        probs[name] = model.predict_proba(test, progress=False)
        model.save(tmp_path / f"saved-{name}")
    assert np.isfinite(probs["bf16"]).all() and not np.array_equal(probs["bf16"], probs["fp32"])
    assert np.abs(probs["bf16"] - probs["fp32"]).max() < 0.05
    loaded = TransformerClassifier.load(tmp_path / "saved-bf16")
    assert loaded.precision == "bf16"
    assert loaded.predict_proba(test, progress=False) == pytest.approx(probs["bf16"], abs=1e-6)


def test_bf16_probe_embeddings_agree_and_are_cached_apart(statements):
    location = resolve_model("minilm-l6").location
    texts = statements["text"].head(16)
    fp32 = ProbeClassifier(location, max_length=48, precision="fp32")
    bf16 = ProbeClassifier(location, max_length=48, precision="bf16")
    a, b = fp32.embed(texts), bf16.embed(texts)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cosine.min() > 0.99 and not np.array_equal(a, b)
    assert fp32.embedding_cache is not bf16.embedding_cache


@pytest.mark.slow
def test_a_run_records_the_precision_of_each_model(tmp_path):
    sets = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "strong_train.finetune=probe",
            "strong_train.precision=bf16", "threads=1", "eval.n_bootstrap=100"]
    cfg = load_config(None, sets, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    run_dir = run_experiment(cfg, tmp_path, quiet=True)
    record = json.loads((run_dir / "metrics.json").read_text())
    assert record["precision"] == {"weak": precision.resolve("auto"), "strong": "bf16"}
    assert 0.0 <= record["student"]["acc"] <= 1.0
