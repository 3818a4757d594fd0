"""lora_layers: top-K (trainers/top_layers.py): LoRA on the top K layers, the frozen layers below
run once per input and cached. Real zoo models, the real Trainer, tiny slices, fp32 (exact checks)."""

import numpy as np
import pandas as pd
import pytest
import torch

from w2s_eval.cli import main
from w2s_eval.config import TrainConfig, top_layer_count
from w2s_eval.errors import UserError
from w2s_eval.models.resolve import resolve_model
from w2s_eval.tasks import get_task
from w2s_eval.trainers import top_layers
from w2s_eval.trainers.classify import TransformerClassifier
from w2s_eval.trainers.reward import RewardModel
from w2s_eval.trainers.sft import SFTModel


def lora(lora_layers: str, **more) -> TrainConfig:
    return TrainConfig(finetune="lora", lora_layers=lora_layers, precision="fp32", max_length=32, epochs=1,
                       batch_size=4, select_on_val=False, **more)


@pytest.fixture(scope="module")
def statements(data_dir) -> pd.DataFrame:
    frame = get_task("toxicity").load(data_dir)[0]
    return frame.groupby("label").head(6).reset_index(drop=True)  # 12 statements, both labels


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """An empty hidden-state cache on disk and in memory (the zoo models stay where they are)."""
    for ref in ("minilm-l6", "mpnet-base", "gemma3-270m", "smollm2-135m"):
        resolve_model(ref)  # pulled into the usual cache first
    monkeypatch.setenv("W2S_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(top_layers, "_CACHES", {})
    return tmp_path / "hidden-states"


@pytest.mark.parametrize("ref", ["minilm-l6", "mpnet-base", "gemma3-270m"])
def test_cached_lower_layers_give_the_full_models_logits(own_cache, statements, ref):
    """Before training (LoRA's B is zero: the adapters add nothing) the top-2 path on cached states
    predicts what the whole model computes, for BERT, MPNet (tuple outputs, relative position bias)
    and Gemma 3 (rotary embeddings, sliding/full attention per layer)."""
    model, few = TransformerClassifier(resolve_model(ref).location, lora("top-2")), statements.iloc[3:9]
    cached = model.predict_proba(few, progress=False)
    lower_part, model.lower_part = model.lower_part, None
    whole = model.predict_proba(few, progress=False)
    assert lower_part.sequences_computed == len(few)
    assert cached.std() > 0  # the head reads real states, not a constant
    np.testing.assert_allclose(cached, whole, atol=1e-5)


def test_sft_answer_scores_on_cached_lower_layers_match_the_full_model(own_cache, statements):
    """The sft scorer (left-padded rows, explicit position ids) on cached states, as the full model."""
    model = SFTModel(resolve_model("smollm2-135m").location, lora("top-2")).configure(get_task("toxicity"))
    cached = model.margins(statements.head(4))
    model.lower_part = None
    np.testing.assert_allclose(cached, model.margins(statements.head(4)), atol=1e-4)


def test_top_l_is_all_layers(statements):
    """top-L (every layer on top, nothing cached) trains and predicts exactly as lora_layers: all."""
    location = resolve_model("minilm-l6").location
    predictions = []
    for lora_layers in ("all", "top-6"):
        model = TransformerClassifier(location, lora(lora_layers))
        assert model.lower_part is None
        model.fit(statements, statements["label"].to_numpy(float))
        predictions.append(model.predict_proba(statements, progress=False))
    np.testing.assert_array_equal(predictions[0], predictions[1])


def test_top_2_trains_only_the_top_adapters_and_the_head_and_reuses_the_cache(own_cache, statements, tmp_path,
                                                                            monkeypatch):
    location = resolve_model("minilm-l6").location
    model = TransformerClassifier(location, lora("top-2"))
    before = {name: p.detach().clone() for name, p in model.model.named_parameters()}
    model.fit(statements, statements["label"].to_numpy(float))
    changed = {name for name, p in model.model.named_parameters() if not torch.equal(p, before[name])}
    trainable = {name for name, p in model.model.named_parameters() if p.requires_grad}
    # LoRA on layers 4 and 5 of MiniLM's 6 and on the pooler above them; the classifier head.
    assert changed and changed <= trainable
    assert all(".layer.4." in n or ".layer.5." in n or ".pooler." in n or ".classifier." in n for n in trainable)
    assert any(".layer.4." in n and "lora_B" in n for n in changed) and any(".classifier." in n for n in changed)
    assert model.lower_part.sequences_computed == len(statements)
    shards = sorted(own_cache.glob("*-below4/*.safetensors"))
    assert len(shards) == 1
    trained = model.predict_proba(statements, progress=False)

    # A new process (nothing in memory): a second run and the saved model read the disk cache.
    monkeypatch.setattr(top_layers, "_CACHES", {})
    again = TransformerClassifier(location, lora("top-2"))
    again.fit(statements, statements["label"].to_numpy(float))
    assert again.lower_part.sequences_computed == 0
    np.testing.assert_allclose(again.predict_proba(statements, progress=False), trained, atol=1e-6)
    model.save(tmp_path / "model")
    loaded = TransformerClassifier.load(tmp_path / "model")
    np.testing.assert_allclose(loaded.predict_proba(statements, progress=False), trained, atol=1e-6)
    assert loaded.lower_part.sequences_computed == 0 and sorted(own_cache.glob("*/*.safetensors")) == shards


def test_sft_top_2_trains_only_the_top_adapters(own_cache, statements):
    # One optimizer step: no warm-up, or its learning rate would be 0.
    model = SFTModel(resolve_model("smollm2-135m").location, lora("top-2", warmup=0.0)).configure(get_task("toxicity"))
    before = {name: p.detach().clone() for name, p in model.model.named_parameters() if p.requires_grad}
    model.fit(statements.head(4), statements["label"].head(4).to_numpy(float))
    changed = {name for name, p in model.model.named_parameters() if p.requires_grad and not torch.equal(p, before[name])}
    assert changed and all(".layers.28." in n or ".layers.29." in n for n in before)
    assert model.lower_part.sequences_computed > 0


def test_the_step_keys_hold_which_layers_train():
    assert TrainConfig().cache_identity()["lora_layers"] == "all"
    assert TrainConfig(finetune="lora", lora_layers="top-2").cache_identity()["lora_layers"] == "top-2"
    assert top_layer_count("all") is None and top_layer_count("top-12") == 12


@pytest.mark.parametrize("setting, expected", [
    ("strong_train.lora_layers=top-0", "strong_train.lora_layers: expected all or top-K, K a positive number of "
                                       "layers (e.g. top-2), got 'top-0'"),
    ("strong_train.lora_layers=top-x", "strong_train.lora_layers: expected all or top-K"),
    ("strong_train.lora_layers=top2", "strong_train.lora_layers: expected all or top-K"),
    ("weak_train.lora_layers=top-2", "weak_train.lora_layers: top-2 chooses where LoRA adapters go, so it needs "
                                     "weak_train.finetune: lora (got full)"),
    ("strong_train.lora_layers=top-999", "strong_train.lora_layers: top-999 asks for more layers than the model "
                                         "has (12); expected all or top-K"),
])
def test_bad_lora_layers_are_one_line_errors(capsys, tmp_path, setting, expected):
    assert main(["run", "--gap", "small", "--set", setting, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and len(err.strip().splitlines()) == 1


def test_reward_refuses_top_k(capsys, tmp_path):
    argv = ["run", "--task", "reward", "--paradigm", "reward", "--gap", "small", "--set",
            "strong_train.lora_layers=top-2", "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "strong_train.lora_layers: top-2 is not supported for paradigm 'reward'" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(UserError, match="not supported for paradigm 'reward'"):
        RewardModel(resolve_model("smollm2-135m").location, lora("top-2"))
