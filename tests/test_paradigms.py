"""The TRL paradigms (sft, reward, dpo) and 4-bit QLoRA: losses by hand, pair handling, tiny
real runs with SmolLM2-135M from the offline zoo, and a 4-bit student trained on CPU."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from w2s_eval.cli import main
from w2s_eval.config import TrainConfig, load_config
from w2s_eval.models.resolve import resolve_model
from w2s_eval.protocol import run_experiment
from w2s_eval.tasks import get_task
from w2s_eval.trainers.reward import soft_preference_loss


def test_soft_preference_loss_by_hand():
    margins = torch.tensor([2.0, -1.0, 0.0])
    soft = torch.tensor([0.9, 0.2, 1.0])

    def log_sigmoid(x):
        return -math.log(1 + math.exp(-x))

    expected = -np.mean([0.9 * log_sigmoid(2) + 0.1 * log_sigmoid(-2),
                         0.2 * log_sigmoid(-1) + 0.8 * log_sigmoid(1),
                         1.0 * log_sigmoid(0)])
    assert float(soft_preference_loss(margins, soft)) == pytest.approx(expected, rel=1e-6)
    # With hard labels it is TRL's Bradley-Terry loss, -log σ(r_chosen - r_rejected).
    assert float(soft_preference_loss(torch.tensor([1.5]), torch.tensor([1.0]))) == pytest.approx(-log_sigmoid(1.5))


def test_pairs_are_shown_in_random_order_and_the_label_says_which_is_preferred(data_dir):
    frame, _ = get_task("reward").load(data_dir)
    assert {"prompt", "reply_a", "reply_b"} <= set(frame.columns)
    a_is_chosen = frame["reply_a"] == frame["chosen"]
    assert (a_is_chosen == (frame["label"] == 1)).all()
    assert ((frame["reply_b"] == frame["chosen"]) == (frame["label"] == 0)).all()
    assert 0.45 < a_is_chosen.mean() < 0.55


@pytest.mark.parametrize("argv, expected", [
    (["run", "--task", "toxicity", "--paradigm", "dpo"], "tasks with pairs: reward"),
    (["run", "--task", "safety", "--paradigm", "reward"], "tasks with pairs: reward"),
    (["run", "--task", "reward", "--paradigm", "reward", "--loss", "logconf"], "cannot train RewardModel as the student"),
    (["run", "--paradigm", "ppo"], "valid choices: classify, dpo, reward, sft"),
    (["run", "--set", "strong_train.quant=3bit"], "strong_train.quant: expected one of auto, none, 8bit, 4bit, got '3bit'"),
    (["run", "--set", "strong_train.quant=4bit", "--set", "strong_train.finetune=full"], "only finetune: lora"),
])
def test_paradigm_bad_input(capsys, tmp_path, argv, expected):
    assert main(argv + ["--out", str(tmp_path)]) == 2
    assert expected in capsys.readouterr().err


TINY = ["splits.max_per_split={A: 16, B: 16, val: 8, test: 16}", "strong_train.epochs=1", "weak_train.epochs=1",
        "strong_train.max_length=96", "weak_train.max_length=96", "strong_train.batch_size=8",
        "weak_train.batch_size=8", "strong_train.lora_r=4", "eval.n_bootstrap=50", "threads=1",
        # One or two optimizer steps: no warm-up, or the first step would have learning rate 0.
        "strong_train.warmup=0", "weak_train.warmup=0"]


@pytest.mark.slow
@pytest.mark.parametrize("task, paradigm", [("toxicity", "sft"), ("reward", "reward"), ("reward", "dpo")])
def test_each_paradigm_runs_end_to_end(tmp_path, task, paradigm):
    # DPO runs the policy and the reference on both replies: the smallest slice that still checks it.
    smaller = ["splits.max_per_split={A: 8, B: 8, val: 4, test: 8}", "strong_train.max_length=64"] if paradigm == "dpo" else []
    cfg = load_config(None, TINY + smaller, {"task": task, "paradigm": paradigm, "weak_model": "tfidf",
                                             "strong_model": "smollm2-135m"})
    run_dir = run_experiment(cfg, tmp_path, quiet=True)
    predictions = pd.read_parquet(run_dir / "predictions.parquet")
    assert len(predictions) == (8 if paradigm == "dpo" else 16)
    for role in ("weak", "student", "ceiling"):
        assert predictions[role].between(0, 1).all() and predictions[role].nunique() > 1, role
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["paradigm"] == paradigm and set(metrics["student"]) == {"acc", "auroc"}
    if paradigm in ("sft", "dpo"):
        generations = json.loads((run_dir / "generations.json").read_text())
        assert {"student", "ceiling"} <= set(generations)
        assert all(isinstance(g["output"], str) for g in generations["student"])


@pytest.mark.slow
def test_a_4bit_lora_student_trains_on_cpu(data_dir):
    """bitsandbytes NF4 weights stay 4-bit (packed uint8) and frozen; the LoRA adapters move."""
    import bitsandbytes as bnb

    from w2s_eval.trainers.classify import TransformerClassifier

    frame, _ = get_task("toxicity").load(data_dir)
    frame = frame.head(16)
    cfg = TrainConfig(finetune="lora", quant="4bit", epochs=1, batch_size=8, lr=1e-3, max_length=48,
                      lora_r=4, select_on_val=False)
    student = TransformerClassifier(resolve_model("smollm2-135m").location, cfg, seed=0)
    four_bit = [m for m in student.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(four_bit) >= 7 * 30, "every body linear layer of the 30-layer model is 4-bit"
    assert all(m.weight.dtype == torch.uint8 and m.weight.quant_type == "nf4" for m in four_bit)
    before = {n: p.detach().clone() for n, p in student.model.named_parameters() if "lora_B" in n}
    student.fit(frame, frame["label"].to_numpy(float))
    after = dict(student.model.named_parameters())
    assert any(not torch.equal(before[n], after[n]) for n in before), "the adapters changed"
    assert all(not p.requires_grad for n, p in student.model.named_parameters() if p.dtype == torch.uint8)
    assert student.predict_proba(frame, progress=False).shape == (16,)


@pytest.mark.slow
@pytest.mark.parametrize("precision, tolerance", [("fp32", dict(abs=1e-3)), ("bf16", dict(rel=0.02, abs=0.05))])
def test_continuation_logprobs_match_one_example_at_a_time(precision, tolerance):
    """The batched, left-padded scorer (LM head on the last positions only) gives the same sums of
    token log-probabilities as scoring each prompt + continuation alone in fp32, without padding:
    to summation order in fp32; in bf16 to 2% (logits of magnitude 16-32 are stored to a step of
    0.125, and padding changes the bf16 rounding; a token lost or shifted would move a sum by units)."""
    from w2s_eval.trainers.sft import SFTModel

    model = SFTModel(resolve_model("smollm2-135m").location,
                     TrainConfig(finetune="lora", max_length=64, precision=precision), seed=0)
    prompts = ["Is this toxic?\nAnswer:", "A much longer prompt about many different things, written to need padding.",
               "Short"]
    conts = [" yes", " no thanks, really", " a reply of several tokens here"]
    batched = model.continuation_logprobs(prompts, conts, batch_size=3)
    tok, net = model.tokenizer, model.model.eval()
    for prompt, cont, got in zip(prompts, conts, batched):
        p_ids = tok(prompt)["input_ids"]
        c_ids = tok(cont, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = net(input_ids=torch.tensor([p_ids + c_ids])).logits[0].float()
        logp = torch.log_softmax(logits, -1)
        expected = sum(float(logp[len(p_ids) - 1 + j, t]) for j, t in enumerate(c_ids))
        assert got == pytest.approx(expected, **tolerance)


@pytest.mark.slow
@pytest.mark.parametrize("paradigm", ["sft", "dpo"])
def test_generative_paradigms_train_in_4bit_on_cpu(paradigm):
    """SFT and DPO in 4-bit on CPU, with scoring on val between epochs: the tied LM head stays out
    of 4-bit (a 4-bit layer sharing the input embeddings fails in bitsandbytes)."""
    import bitsandbytes as bnb

    from w2s_eval.trainers.dpo import DPOPolicy
    from w2s_eval.trainers.sft import SFTModel

    task = get_task("toxicity" if paradigm == "sft" else "reward")
    frame = task.load()[0].head(10)
    cfg = TrainConfig(finetune="lora", quant="4bit", epochs=2, batch_size=4, lr=1e-3, max_length=48, lora_r=4, warmup=0)
    location = resolve_model("smollm2-135m").location
    model = SFTModel(location, cfg, 0).configure(task) if paradigm == "sft" else DPOPolicy(location, cfg, 0)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in model.model.modules())
    assert not isinstance(model.model.get_output_embeddings(), bnb.nn.Linear4bit)
    train, val = frame.head(6), frame.tail(4)
    model.fit(train, train["label"].to_numpy(float), val, val["label"].to_numpy(float))
    assert [h["epoch"] for h in model.history if "val_acc" in h] == [1.0, 2.0]
    probs = model.predict_proba(val)
    assert probs.shape == (4,) and np.isfinite(probs).all() and ((probs >= 0) & (probs <= 1)).all()
