"""SFT with soft targets: the loss over the two answer words against [1 − p, p], length-normalised
answer scores, and the decision threshold calibrated on val; SmolLM2-135M on a tiny real slice."""

import math

import numpy as np
import pytest
import torch

from w2s_eval.config import TrainConfig
from w2s_eval.models.resolve import resolve_model
from w2s_eval.tasks import get_task
from w2s_eval.trainers.sft import AnswerPairCollator, SFTModel, SoftAnswerTrainer, calibrated_threshold

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toxicity(data_dir):
    task = get_task("toxicity")
    return task, task.load(data_dir)[0]


# What each precision's scores may differ by from a one-example fp32 pass: nothing but summation
# order in fp32; in bf16, logits of magnitude 16-32 are stored to a step of 0.125, so a log-prob (and
# a margin of two) moves by up to a few tenths.
SCORE_TOLERANCE = {"fp32": 1e-3, "bf16": 0.3}


@pytest.fixture(scope="module")
def sft_models(toxicity):
    """SmolLM2 with a fresh LoRA adapter, one per precision (fp32 unless a test asks for bf16)."""
    models = {}

    def get(precision: str = "fp32") -> SFTModel:
        if precision not in models:
            cfg = TrainConfig(finetune="lora", epochs=1, batch_size=8, lr=5e-4, max_length=64, lora_r=4, warmup=0,
                              precision=precision)
            models[precision] = SFTModel(resolve_model("smollm2-135m").location, cfg, seed=0).configure(toxicity[0])
        return models[precision]
    return get


@pytest.fixture(scope="module")
def sft_model(sft_models):
    """Pinned to fp32: these tests check numbers exactly."""
    return sft_models("fp32")


def token_logprobs_alone(model: SFTModel, prompt: str, answer: str) -> list[float]:
    """Each answer token's log-probability, scoring prompt + answer alone (no batch, no padding)."""
    tok, net = model.tokenizer, model.model.eval()
    p_ids = tok(prompt)["input_ids"]
    a_ids = tok(" " + answer, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(net(input_ids=torch.tensor([p_ids + a_ids])).logits[0].float(), -1)
    return [float(logp[len(p_ids) - 1 + j, t]) for j, t in enumerate(a_ids)]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_answer_scores_are_mean_token_logprobs_so_a_two_token_word_is_not_penalised(sft_models, toxicity, precision):
    # SmolLM2 spells " hateful" in two tokens and " neutral" in one: a sum would score "hateful"
    # lower for its length alone; the mean per token does not. The reference is always fp32.
    sft_model = sft_models(precision)
    tolerance = SCORE_TOLERANCE[precision]
    tok = sft_model.tokenizer
    assert [len(tok(" " + a, add_special_tokens=False)["input_ids"]) for a in sft_model.answers] == [1, 2]
    frame = toxicity[1].head(3)
    margins = sft_model.margins(frame)
    for prompt, margin in zip(sft_model.prompts(frame["text"]), margins):
        neutral, hateful = (token_logprobs_alone(sft_model, prompt, a) for a in sft_model.answers)
        assert margin == pytest.approx(sum(hateful) / 2 - sum(neutral), abs=tolerance)
        assert margin != pytest.approx(sum(hateful) - sum(neutral), abs=tolerance)


def test_the_training_loss_is_the_cross_entropy_over_the_two_answers_against_the_soft_label(
        sft_model, toxicity, tmp_path):
    import datasets
    from trl import SFTConfig

    from w2s_eval.trainers.losses import make_loss

    frame = toxicity[1].head(2)
    soft = [0.3, 1.0]
    rows = [{"prompt": p, "soft": s} for p, s in zip(sft_model.prompts(frame["text"]), soft)]
    args = SFTConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, bf16=False,
                     dataset_kwargs={"skip_prepare_dataset": True}, remove_unused_columns=False,
                     gradient_checkpointing=False)
    trainer = SoftAnswerTrainer(model=sft_model.model, args=args, train_dataset=datasets.Dataset.from_list(rows),
                                processing_class=sft_model.tokenizer, data_collator=AnswerPairCollator(sft_model),
                                w2s_loss=make_loss("xent"))
    with torch.no_grad():
        got = float(trainer.compute_loss(sft_model.model.eval(), AnswerPairCollator(sft_model)(rows)))
    # By hand: s_k = mean token log-prob of answer k; q = softmax(s_neutral, s_hateful);
    # loss = mean over examples of −[(1 − p) ln q_neutral + p ln q_hateful].
    expected = []
    for row in rows:
        s0, s1 = (np.mean(token_logprobs_alone(sft_model, row["prompt"], a)) for a in sft_model.answers)
        log_q1 = s1 - math.log(math.exp(s0) + math.exp(s1))
        log_q0 = s0 - math.log(math.exp(s0) + math.exp(s1))
        expected.append(-((1 - row["soft"]) * log_q0 + row["soft"] * log_q1))
    assert got == pytest.approx(float(np.mean(expected)), abs=1e-3)


def test_calibrated_threshold_by_hand():
    # 1 − 0.25 = 0.75 quantile of [0, 1, 2, 3, 4] sits at position 0.75 · 4 = 3: threshold 3, so
    # exactly one of five (0.2, the nearest share) lies above it.
    assert calibrated_threshold([4.0, 0.0, 2.0, 1.0, 3.0], 0.25) == 3.0
    assert calibrated_threshold([4.0, 0.0, 2.0, 1.0, 3.0], 0.5) == 2.0


def test_fit_calibrates_the_val_share_to_the_training_labels_mean_and_saves_it(sft_model, toxicity, tmp_path):
    frame = toxicity[1]
    train, val = frame.iloc[:8].reset_index(drop=True), frame.iloc[8:24].reset_index(drop=True)
    soft = np.array([0.9, 0.8, 0.2, 0.1, 0.3, 0.1, 0.15, 0.45])  # mean 0.375: 6 of val's 16
    # Val labels are only read by epoch selection; calibration sees the val inputs alone.
    sft_model.fit(train, soft, val, np.full(len(val), 0.5), work_dir=tmp_path / "trainer")
    assert (sft_model.predict_proba(val) > 0.5).mean() == pytest.approx(6 / 16)
    sft_model.save(tmp_path / "model")
    loaded = SFTModel.load(tmp_path / "model")
    assert loaded.threshold == pytest.approx(sft_model.threshold) and loaded.threshold != 0.0
    assert np.allclose(loaded.predict_proba(val.head(4)), sft_model.predict_proba(val.head(4)), atol=1e-4)
