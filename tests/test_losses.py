"""The W2S losses against values computed by hand (openai/weak-to-strong ``weak_to_strong/loss.py``
with the warm-up fix of its PR #33), and the schedule they get from a real Trainer run."""

import numpy as np
import pytest
import torch

from w2s_eval.errors import UserError
from w2s_eval.trainers.losses import LogConfLoss, ProductLoss, XentLoss, make_loss, warmup_warning

# Logits that are log-probabilities: softmax gives back exactly these student probabilities.
STUDENT = torch.tensor([[0.2, 0.8], [0.4, 0.6], [0.7, 0.3], [0.9, 0.1]])
LOGITS = STUDENT.log()


def test_logconf_by_hand_with_the_fixed_warm_up_and_the_mean_soft_label_quantile():
    loss = LogConfLoss(aux_coef=0.5, warmup_frac=0.2)
    # Mean soft label 0.7, but only half the labels are above 0.5: the two thresholds differ.
    weak = torch.tensor([1.0, 1.0, 0.4, 0.4])
    # α at progress 0.1 = 0.5 · min(1, 0.1 / 0.2) = 0.25 (the unfixed openai code: 0.5 · 0.1 = 0.05).
    # P(class 0) = [0.2, 0.4, 0.7, 0.9]; torch.quantile at level 0.7 sits at sorted position
    # 0.7 · 3 = 2.1, i.e. 0.7 + 0.1 · (0.9 − 0.7) = 0.72. Only P(class 0) = 0.9 ≥ 0.72 is hardened to
    # class 0, so hardened P(label = 1) = [1, 1, 1, 0] (positive share 0.75, not the 0.5 of "> 0.5").
    # Target P(label = 1) = 0.75 · weak + 0.25 · hardened = [1.0, 1.0, 0.55, 0.30].
    # CE per example = −(t · ln q + (1 − t) · ln(1 − q)) with the student's q = P(label = 1):
    #   −ln 0.8 = 0.2231436;  −ln 0.6 = 0.5108256;
    #   −(0.55 ln 0.3 + 0.45 ln 0.7) = 0.6621850 + 0.1605037 = 0.8226888;
    #   −(0.30 ln 0.1 + 0.70 ln 0.9) = 0.6907755 + 0.0737524 = 0.7645279;
    # mean = 2.3211858 / 4 = 0.5802965.
    assert loss(LOGITS, weak, progress=0.1).item() == pytest.approx(0.5802965, abs=1e-6)
    hardened = LogConfLoss.hardened(STUDENT, weak)
    assert hardened[:, 1].tolist() == [1.0, 1.0, 1.0, 0.0]
    # At progress 0, α = 0: plain cross-entropy on the weak labels.
    assert loss(LOGITS, weak, progress=0.0).item() == pytest.approx(XentLoss()(LOGITS, weak, 0.0).item())


def test_logconf_weight_rises_linearly_to_aux_coef_over_the_warm_up_then_stays():
    loss = LogConfLoss(aux_coef=0.75, warmup_frac=0.1)
    assert [loss.coefficient(p) for p in (0.0, 0.05, 0.1, 0.5, 1.0)] == pytest.approx([0.0, 0.375, 0.75, 0.75, 0.75])
    assert LogConfLoss(aux_coef=0.5, warmup_frac=0.0).coefficient(0.0) == 0.5  # no warm-up


def test_hardened_predictions_have_the_mean_soft_label_as_positive_share():
    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(1000, 2, generator=generator), dim=-1)
    for share in (0.1, 0.37, 0.8):
        # Soft labels mostly on one side of 0.5 with mean `share`: their ">0.5" share is 0 or 1.
        soft = torch.full((1000,), share)
        positive = LogConfLoss.hardened(probs, soft)[:, 1].mean().item()
        assert positive == pytest.approx(share, abs=2e-3)


def test_product_by_hand():
    # alpha = beta = 1: target ∝ student · weak, per class, then normalised.
    #   example 1: student [0.2, 0.8], weak [0.1, 0.9] → [0.02, 0.72] / 0.74 → P(1) = 0.9729730
    #   example 2: student [0.4, 0.6], weak [0.4, 0.6] → [0.16, 0.36] / 0.52 → P(1) = 0.6923077
    # CE: −(0.9729730 ln 0.8 + 0.0270270 ln 0.2) = 0.2171126 + 0.0434983 = 0.2606110
    #     −(0.6923077 ln 0.6 + 0.3076923 ln 0.4) = 0.3536485 + 0.2819356 = 0.6355841
    # mean = 0.4480975
    logits = LOGITS[:2].clone().requires_grad_(True)
    weak = torch.tensor([0.9, 0.6])
    value = ProductLoss()(logits, weak, progress=0.5)
    assert value.item() == pytest.approx(0.4480975, abs=1e-6)
    # The target is held fixed: the gradient is the plain soft cross-entropy's, (q − t) / N.
    value.backward()
    target_1 = torch.tensor([0.72 / 0.74, 0.36 / 0.52])
    expected = (STUDENT[:2] - torch.stack([1 - target_1, target_1], dim=-1)) / 2
    assert torch.allclose(logits.grad, expected, atol=1e-6)
    # beta = 0 ignores the student: the target is the weak labels, i.e. plain cross-entropy.
    assert ProductLoss(beta=0.0)(LOGITS, weak.repeat(2), 0.0).item() == pytest.approx(
        XentLoss()(LOGITS, weak.repeat(2), 0.0).item())


def test_make_loss_names_and_bad_parameters():
    assert isinstance(make_loss("product", aux_coef=0.5), ProductLoss)
    assert make_loss("logconf", aux_coef=0.75, warmup_frac=0.2) == LogConfLoss(0.75, 0.2)
    with pytest.raises(UserError, match="loss.aux_coef: expected a number in \\[0, 1\\]"):
        make_loss("logconf", aux_coef=1.5)


def test_warm_up_warning_when_it_spans_under_two_optimizer_steps():
    loss = LogConfLoss(aux_coef=0.5, warmup_frac=0.1)
    assert "1.0 step(s)" in warmup_warning(loss, total_steps=10)
    assert warmup_warning(loss, total_steps=20) is None
    assert warmup_warning(XentLoss(), total_steps=1) is None


@pytest.mark.slow
def test_the_trainer_hands_the_loss_optimizer_steps_done_over_total(data_dir):
    """A real classify run (MiniLM, 12 examples, batch 4, 2 epochs = 6 optimizer steps): the loss
    sees progress k / 6 at step k, so α follows optimizer steps; 0.1 · 6 steps of warm-up is
    under two, so the run records a warning in its history."""
    from w2s_eval.config import TrainConfig
    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.tasks import get_task
    from w2s_eval.trainers.classify import TransformerClassifier

    class RecordingLogConf(LogConfLoss):
        def __call__(self, logits, soft, progress):
            seen.append(progress)
            return super().__call__(logits, soft, progress)

    seen = []
    frame = get_task("toxicity").load(data_dir)[0].head(12)
    cfg = TrainConfig(finetune="lora", epochs=2, batch_size=4, lr=1e-3, max_length=32, lora_r=4, select_on_val=False)
    model = TransformerClassifier(resolve_model("minilm-l6").location, cfg, seed=0)
    with pytest.warns(UserWarning, match="loss warm-up"):
        model.fit(frame, frame["label"].to_numpy(float), loss=RecordingLogConf(aux_coef=0.5, warmup_frac=0.1))
    assert seen == pytest.approx([k / 6 for k in range(6)])
    assert any("loss warm-up" in entry.get("warning", "") for entry in model.history)


def test_weighted_losses_are_the_mean_of_weight_times_example_loss():
    logits = torch.tensor([[0.0, 1.0], [2.0, -1.0], [0.5, 0.5]])
    soft = torch.tensor([1.0, 0.0, 0.3])
    weights = torch.tensor([0.5, 2.0, 1.0])
    per_example = torch.stack([make_loss("xent")(logits[i:i + 1], soft[i:i + 1], 0.0) for i in range(3)])
    assert make_loss("xent")(logits, soft, 0.0, weights=weights).item() == pytest.approx((weights * per_example).mean().item())
    assert make_loss("xent")(logits, soft, 0.0, weights=torch.ones(3)).item() == pytest.approx(per_example.mean().item())


@pytest.mark.slow
def test_the_trainer_hands_each_examples_weight_to_the_loss(data_dir):
    """Weights travel with their example through the length-grouped sampler and the collator."""
    from w2s_eval.config import TrainConfig
    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.tasks import get_task
    from w2s_eval.trainers.classify import TransformerClassifier

    class RecordingXent(XentLoss):
        def __call__(self, logits, soft, progress, weights=None):
            seen.append(list(zip(soft.tolist(), weights.tolist())))
            return super().__call__(logits, soft, progress, weights)

    seen = []
    frame = get_task("toxicity").load(data_dir)[0].head(8)
    soft = np.linspace(0.1, 0.8, 8)
    weights = np.linspace(1.0, 8.0, 8)
    cfg = TrainConfig(finetune="lora", epochs=1, batch_size=4, lr=1e-3, max_length=32, lora_r=4, select_on_val=False)
    TransformerClassifier(resolve_model("minilm-l6").location, cfg, seed=0).fit(frame, soft, loss=RecordingXent(),
                                                                               weights=weights)
    pairs = np.array(sorted(p for batch in seen for p in batch))
    np.testing.assert_allclose(pairs, np.stack([soft, weights], axis=1), atol=1e-6)  # each weight with its example


# -- a loss the student's model cannot use is an error, before any training -----------------------

def test_every_model_class_declares_the_losses_it_trains_with():
    from w2s_eval.paradigms import PARADIGMS
    from w2s_eval.trainers.bow import BowClassifier, ProbeClassifier
    from w2s_eval.trainers.losses import LOSSES

    assert BowClassifier.losses == ProbeClassifier.losses == ("xent",)  # closed-form cross-entropy
    assert set(LOSSES) <= set(PARADIGMS["classify"].model_class.losses)  # the HF Trainer applies any loss
    for paradigm in PARADIGMS.values():
        assert "xent" in paradigm.model_class.losses  # the default loss trains every paradigm's model


@pytest.mark.parametrize("loss, sets", [
    ("logconf", ["strong_train.finetune=probe"]),  # the case: a probe student
    ("product", []),  # the bag-of-words student (--strong tfidf below)
])
def test_a_loss_the_student_cannot_use_is_one_line_and_status_2_before_training(capsys, tmp_path, loss, sets):
    from w2s_eval.cli import main

    argv = ["run", "--task", "toxicity", "--loss", loss, "--out", str(tmp_path / "runs")]
    argv += ["--strong", "tfidf"] if not sets else []
    for assignment in sets:
        argv += ["--set", assignment]
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("w2s-eval:")]
    assert len(lines) == 1 and lines[0].startswith("w2s-eval: error: loss.name (--loss): " + repr(loss))
    assert "it accepts: xent" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # nothing was trained


def test_a_linear_student_refuses_the_loss_in_fit_too(data_dir):
    """Called through the Python API, fit refuses what validation refuses: no ``**_`` swallows it."""
    from w2s_eval.tasks import get_task
    from w2s_eval.trainers.bow import BowClassifier

    frame = get_task("toxicity").load()[0].head(40)
    labels = frame["label"].to_numpy(float)
    with pytest.raises(UserError, match="'logconf' cannot train BowClassifier; it accepts: xent"):
        BowClassifier().fit(frame, labels, loss=make_loss("logconf"))
    assert BowClassifier().fit(frame, labels, loss=make_loss("xent")).predict_proba(frame).shape == (40,)
