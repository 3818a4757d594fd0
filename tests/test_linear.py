"""The linear judges: the bag-of-words model and the probe on a frozen zoo model, on real data."""

import numpy as np
import pytest

from w2s_eval.errors import UserError
from w2s_eval.models.resolve import resolve_model
from w2s_eval.tasks import get_task
from w2s_eval.trainers.bow import BowClassifier, ProbeClassifier


@pytest.fixture(scope="module")
def pairs(data_dir):
    return get_task("reward").load(data_dir)[0].head(240)


def test_pair_judges_are_antisymmetric(pairs):
    """Pairs are read as phi(A) - phi(B) with no intercept: swapping the replies gives exactly the
    complementary probability, so the A/B position carries no signal."""
    train, test = pairs.iloc[:200], pairs.iloc[200:]
    judge = BowClassifier().fit(train, train["label"].to_numpy(float))
    swapped = test.rename(columns={"reply_a": "reply_b", "reply_b": "reply_a"})
    p, q = judge.predict_proba(test), judge.predict_proba(swapped)
    assert p.std() > 0.01
    assert (p + q) == pytest.approx(1.0, abs=1e-9)


def test_probe_fits_soft_labels_and_round_trips(tmp_path, data_dir):
    frame = get_task("legal").load(data_dir)[0].sample(80, random_state=0)
    train, val = frame.iloc[:60], frame.iloc[60:]
    probe = ProbeClassifier(resolve_model("minilm-l6").location, max_length=64)
    soft = np.where(train["label"] == 1, 0.8, 0.2)  # soft labels, as a weak supervisor gives
    probe.fit(train, soft, val, val["label"].to_numpy(float))
    assert probe.history and {"C", "val_acc"} <= set(probe.history[0])
    before = probe.predict_proba(val)
    probe.save(tmp_path / "probe")
    after = ProbeClassifier.load(tmp_path / "probe").predict_proba(val)
    np.testing.assert_allclose(before, after, atol=1e-6)
    assert ((before > 0.5) == (probe.predict_proba(val) > 0.5)).all() and before.std() > 0


def test_probe_embeddings_are_cached_on_disk_across_processes(tmp_path, monkeypatch, data_dir):
    """A second probe whose process-level cache is empty (as in a new process) takes the embeddings
    from disk without running the encoder, and gets the very same features."""
    from w2s_eval.trainers import bow

    location = resolve_model("minilm-l6").location  # pulled into the usual cache first
    monkeypatch.setenv("W2S_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(bow, "_CACHES", {})
    texts = get_task("toxicity").load(data_dir)[0]["text"].head(40).tolist()

    def counting(probe) -> list[int]:
        encoded = []  # texts per encoder call
        probe.encoder.register_forward_hook(
            lambda module, args, kwargs, out: encoded.append(kwargs["input_ids"].shape[0]), with_kwargs=True)
        return encoded

    first = ProbeClassifier(location, max_length=32)
    first_calls = counting(first)
    features = first.embed(texts + texts[:5])  # repeats are encoded once
    assert sum(first_calls) == 40
    np.testing.assert_array_equal(features[40:], features[:5])
    assert len(list((tmp_path / "embeddings").glob("*-len32/*.npz"))) == 1

    monkeypatch.setattr(bow, "_CACHES", {})  # a new process: nothing in memory
    second = ProbeClassifier(location, max_length=32)
    second_calls = counting(second)
    np.testing.assert_array_equal(second.embed(texts[::-1]), features[:40][::-1])
    assert second_calls == []
    # Only what is new is encoded, and it is added as a shard of its own.
    second.embed(texts + ["a sentence no split holds"])
    assert second_calls == [1]
    assert len(list((tmp_path / "embeddings").glob("*-len32/*.npz"))) == 2

    # Another max_length is another setting: encoded afresh, in its own folder.
    third = ProbeClassifier(location, max_length=16)
    third_calls = counting(third)
    third.embed(texts[:3])
    assert sum(third_calls) == 3
    assert len(list((tmp_path / "embeddings").glob("*-len16/*.npz"))) == 1

    # A shard that cannot be read is an error naming it, not a silent recomputation.
    broken = next((tmp_path / "embeddings").glob("*-len16")) / "broken.npz"
    broken.write_bytes(b"not an npz file")
    monkeypatch.setattr(bow, "_CACHES", {})
    with pytest.raises(UserError, match="broken.npz"):
        ProbeClassifier(location, max_length=16).embed(["a sentence no split holds"])


def test_probe_reading_the_prompt_is_antisymmetric_and_uses_the_prompt(tmp_path, pairs):
    """pair_context="prompt" judges φ(P ⊕ A) − φ(P ⊕ B): swapping the replies still gives exactly
    the complementary probability, the features differ from the replies-only ones, and another
    prompt before the same replies changes them (the prompt is read, not cancelled)."""
    location = resolve_model("minilm-l6").location
    train, test = pairs.iloc[:60], pairs.iloc[60:80]
    judge = ProbeClassifier(location, max_length=64, pair_context="prompt")
    judge.fit(train, train["label"].to_numpy(float))
    swapped = test.rename(columns={"reply_a": "reply_b", "reply_b": "reply_a"})
    p, q = judge.predict_proba(test), judge.predict_proba(swapped)
    assert p.std() > 0.01
    assert (p + q) == pytest.approx(1.0, abs=1e-6)

    with_prompt = judge.features(test)
    replies_only = ProbeClassifier(location, max_length=64).features(test)
    other_prompts = test.assign(prompt=test["prompt"].iloc[::-1].to_numpy())
    assert np.abs(with_prompt - replies_only).max() > 1e-3
    moved = np.abs(judge.features(other_prompts) - with_prompt).max(axis=1)
    assert (moved > 1e-3).all()

    judge.save(tmp_path / "probe")
    again = ProbeClassifier.load(tmp_path / "probe")
    assert again.pair_context == "prompt"
    np.testing.assert_allclose(again.predict_proba(test), p, atol=1e-6)


def test_probe_pair_context_errors_name_the_field(pairs):
    location = resolve_model("minilm-l6").location
    with pytest.raises(UserError, match="pair_context: expected one of reply, prompt, got 'both'"):
        ProbeClassifier(location, pair_context="both")
    judge = ProbeClassifier(location, max_length=32, pair_context="prompt")
    with pytest.raises(UserError, match="pair_context: prompt needs a 'prompt' column"):
        judge.features(pairs.head(2).drop(columns=["prompt"]))


def test_pair_context_setting_reaches_the_probe(pairs):
    """`--set strong_train.pair_context=prompt` is what builds a prompt-reading probe."""
    from w2s_eval.config import load_config
    from w2s_eval.paradigms import get_paradigm, new_model

    config = load_config(assignments=["task=reward", "strong_train.pair_context=prompt"])
    assert config.strong_train.pair_context == "prompt" and config.weak_train.pair_context == "reply"
    probe = new_model(resolve_model("minilm-l6"), get_paradigm("classify"), config.strong_train, 0, get_task("reward"))
    assert isinstance(probe, ProbeClassifier) and probe.pair_context == "prompt"


def test_last_token_pooling_reads_the_prompts_final_state_of_each_text_alone(data_dir, tmp_path, monkeypatch):
    """pooling: last embeds sft's prompt around each text and keeps the hidden state of its final
    token: batched (right-padded) it equals each prompt run alone; the save keeps the setting."""
    import torch

    from w2s_eval.trainers import bow
    from w2s_eval.trainers.sft import sft_prompt

    monkeypatch.setattr(bow, "_CACHES", {})
    task = get_task("toxicity")
    frame = task.load(data_dir)[0].head(6)
    probe = ProbeClassifier(resolve_model("smollm2-135m").location, max_length=64, pooling="last",
                            question=task.question)
    assert probe.read_as(frame["text"])[0] == sft_prompt(frame["text"].iloc[0], task.question)
    batched = probe.features(frame)
    for row, text in enumerate(frame["text"]):
        ids = probe.tokenizer(sft_prompt(text, task.question), return_tensors="pt")
        with torch.no_grad():
            alone = probe.encoder(**ids).last_hidden_state[0, -1].float().numpy()
        np.testing.assert_allclose(batched[row], alone, rtol=1e-4, atol=1e-4)
    mean = ProbeClassifier(probe.location, max_length=64, question=task.question).features(frame)
    assert not np.allclose(mean, batched)
    probe.fit(frame, frame["label"].to_numpy(float))
    probe.save(tmp_path / "probe")
    again = ProbeClassifier.load(tmp_path / "probe")
    assert (again.pooling, again.question) == ("last", task.question)


def test_an_unknown_pooling_is_one_line_naming_the_field():
    with pytest.raises(UserError, match=r"^pooling: expected one of mean, last, got 'max'$"):
        ProbeClassifier(resolve_model("minilm-l6").location, pooling="max")
