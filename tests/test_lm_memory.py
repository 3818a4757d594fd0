"""Computing only what the causal-LM paradigms need, and the memory a step took.

The continuation scores (SFT's answer words, DPO's replies) read the model's final hidden states at
the positions that predict the continuation and the log-probability of each next token alone,
with the vocabulary's log-sum-exp taken a chunk of words at a time (trainers/lm.py). These tests
check that this equals the full-logits computation — log-softmax over every position's logits,
as the scorer computed before — in scores, in the SFT training loss and in its gradients (fp32).
Memory itself is measured by benchmarks/lm_memory.py, not asserted here.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from w2s_eval import memory
from w2s_eval.config import TrainConfig
from w2s_eval.store import RunLog, StepCache
from w2s_eval.trainers import lm
from w2s_eval.trainers.lm import continuation_scores, token_logprobs


def full_logits_scores(model, batch: dict, per_token: bool = False) -> torch.Tensor:
    """The reference: every position's full logits and their log-softmax, from which the batch's
    scored tokens are read and summed per slot."""
    ids = batch["input_ids"]
    logits = model(input_ids=ids, attention_mask=batch["attention_mask"], position_ids=batch["position_ids"]).logits
    logp = torch.log_softmax(logits.float(), dim=-1)
    row, before_end, token, slot = batch["scored"].unbind(-1)
    lengths = batch["slot_length"]
    total = torch.zeros(len(lengths)).index_add(0, slot, logp[row, ids.shape[1] - 1 - before_end, token])
    return total / lengths if per_token else total


def two_rows_per_answer(model, prompts) -> dict:
    """The SFT layout before issue 22: each prompt followed by each answer word, one row each."""
    pairs = [(p, " " + a) for p in prompts for a in model.answers]
    return model.left_padded(model.encode_continuations(*zip(*pairs)))


@pytest.mark.parametrize("softcap", [None, 3.0])
@pytest.mark.parametrize("bias", [False, True])
def test_token_logprobs_in_chunks_equal_log_softmax(monkeypatch, softcap, bias):
    # Few words per chunk, so the vocabulary is split unevenly (1000 = 142 × 7 + 6).
    monkeypatch.setattr(lm, "WORDS_PER_CHUNK", 7)
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 1000, bias=bias)
    hidden = torch.randn(5, 16, requires_grad=True)
    targets = torch.randint(0, 1000, (5,))
    got = token_logprobs(hidden, head, targets, softcap)
    logits = head(hidden)
    logits = softcap * torch.tanh(logits / softcap) if softcap else logits
    expected = torch.log_softmax(logits, -1).gather(-1, targets[:, None]).squeeze(-1)
    assert torch.allclose(got, expected, atol=1e-5)
    weights = torch.randn(5)
    grads = torch.autograd.grad((got * weights).sum(), [hidden, head.weight])
    expected_grads = torch.autograd.grad((expected * weights).sum(), [hidden, head.weight])
    for g, e in zip(grads, expected_grads):
        assert torch.allclose(g, e, atol=1e-5)


@pytest.fixture(scope="module")
def smollm():
    from w2s_eval.models.resolve import resolve_model
    from w2s_eval.tasks import get_task
    from w2s_eval.trainers.sft import SFTModel

    cfg = TrainConfig(finetune="lora", max_length=64, lora_r=4, precision="fp32")
    model = SFTModel(resolve_model("smollm2-135m").location, cfg, seed=0).configure(get_task("toxicity"))
    # LoRA's B starts at zero, so the adapters' A would get no gradient: give B values here, once,
    # so that every test of this module compares non-zero gradients whichever runs first.
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in model.model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)
    return model


PROMPTS = ["Is this toxic?\nAnswer:", "A much longer prompt about many different things, written to need padding.",
           "Short", "Another prompt\nAnswer:"]
REPLIES = [" yes", " no thanks, really", " a reply of several tokens here", " hateful"]


def assert_same_gradients(got: dict, expected: dict):
    """Equal within 1e-4 relative to each gradient's norm: the two computations round differently in
    fp32 (the log-sum-exp in chunks), and backpropagation through 30 layers carries that into
    single entries at up to ~1e-4 of the largest, never into the gradient as a whole."""
    assert got.keys() == expected.keys() and len(got) > 0
    for name in got:
        assert expected[name].norm() > 0, (name, "a zero gradient compares nothing")
        error = float((got[name] - expected[name]).norm() / expected[name].norm())
        assert error < 1e-4, (name, error)


def lora_grads(model) -> dict[str, torch.Tensor]:
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads


@pytest.mark.slow
@pytest.mark.parametrize("per_token", [False, True])
def test_continuation_scores_and_their_gradients_equal_the_full_logits(smollm, per_token):
    # Dropout off (eval mode) so that both computations see the same network.
    net = smollm.model.eval()
    batch = smollm.left_padded(smollm.encode_continuations(PROMPTS, REPLIES))
    weights = torch.tensor([0.3, -1.0, 0.7, 2.0])
    got = continuation_scores(net, batch, per_token)
    (got * weights).sum().backward()
    got_grads = lora_grads(net)
    expected = full_logits_scores(net, batch, per_token)
    (expected * weights).sum().backward()
    expected_grads = lora_grads(net)
    assert torch.allclose(got, expected, atol=1e-4), (got, expected)
    # The head stood aside for the forward pass only: it is back, still tied to the input embeddings.
    assert net.get_output_embeddings().weight is net.get_input_embeddings().weight
    assert_same_gradients(got_grads, expected_grads)


@pytest.mark.slow
@pytest.mark.parametrize("answers, rows_per_prompt", [
    (("neutral", "hateful"), 1),  # SmolLM2: 1 + 2 tokens, one row: the prompt and " hateful"
    (("no", "yes"), 1),  # 1 + 1 tokens: the prompt alone
    (("hateful", "inoffensive"), 2),  # 2 + 3 tokens: a row for each
])
def test_sft_loss_and_scores_equal_the_full_logits(smollm, data_dir, monkeypatch, answers, rows_per_prompt):
    """SoftAnswerTrainer's loss (and its gradients) and ``margins`` as computed from full logits
    with one row per prompt and answer word."""
    from w2s_eval.tasks import get_task
    from w2s_eval.trainers.losses import make_loss
    from w2s_eval.trainers.sft import AnswerPairCollator, SoftAnswerTrainer

    monkeypatch.setattr(smollm, "answers", answers)
    frame = get_task("toxicity").load(data_dir)[0].head(4)
    rows = [{"prompt": p, "soft": s} for p, s in zip(smollm.prompts(frame["text"]), [0.1, 0.9, 0.5, 1.0])]
    batch = AnswerPairCollator(smollm)(rows)
    assert len(batch["input_ids"]) == rows_per_prompt * len(rows)
    net, loss_fn = smollm.model.eval(), make_loss("xent")
    trainer = SoftAnswerTrainer.__new__(SoftAnswerTrainer)  # compute_loss alone: no Trainer state is read
    trainer.w2s_loss, trainer.state = loss_fn, SimpleNamespace(global_step=0, max_steps=1)
    loss = trainer.compute_loss(net, dict(batch))
    loss.backward()
    got_grads = lora_grads(net)
    soft = batch.pop("soft")
    old_layout = two_rows_per_answer(smollm, [row["prompt"] for row in rows])
    expected = loss_fn(full_logits_scores(net, old_layout, per_token=True).view(-1, 2), soft, 0.0)
    expected.backward()
    expected_grads = lora_grads(net)
    assert float(loss) == pytest.approx(float(expected), abs=1e-4)
    assert_same_gradients(got_grads, expected_grads)
    # Scoring (inference mode, batched by length) gives the same margins.
    margins = smollm.margins(frame)
    with torch.no_grad():
        reference = full_logits_scores(net, old_layout, per_token=True).view(-1, 2).numpy()
    np.testing.assert_allclose(margins, reference[:, 1] - reference[:, 0], atol=1e-4)


@pytest.mark.slow
def test_sft_trains_with_logconf_on_the_two_answers_scores(smollm, data_dir):
    """logconf reaches the SFT student: its loss is logconf on the two answers' scores as two-class
    logits (here after warm-up, so half the target is the student's own hardened predictions), not
    the cross-entropy it would be if the loss were dropped."""
    from w2s_eval.tasks import get_task
    from w2s_eval.trainers.losses import make_loss
    from w2s_eval.trainers.sft import AnswerPairCollator, SFTModel, SoftAnswerTrainer

    assert "logconf" in SFTModel.losses
    frame = get_task("toxicity").load(data_dir)[0].head(6)
    soft = [0.1, 0.9, 0.5, 1.0, 0.3, 0.7]
    batch = AnswerPairCollator(smollm)([{"prompt": p, "soft": s} for p, s in zip(smollm.prompts(frame["text"]), soft)])
    net = smollm.model.eval()
    trainer = SoftAnswerTrainer.__new__(SoftAnswerTrainer)
    trainer.state = SimpleNamespace(global_step=1, max_steps=1)
    losses = {}
    for name in ("logconf", "xent"):
        trainer.w2s_loss = make_loss(name)
        with torch.no_grad():
            losses[name] = float(trainer.compute_loss(net, dict(batch)))
    with torch.no_grad():
        scores = continuation_scores(net, {k: v for k, v in batch.items() if k != "soft"}, per_token=True).view(-1, 2)
    expected = make_loss("logconf")(scores, batch["soft"], 1.0)
    assert losses["logconf"] == pytest.approx(float(expected), abs=1e-5)
    assert abs(losses["logconf"] - losses["xent"]) > 1e-3


def test_watch_measures_the_peak_of_its_block():
    import mmap

    with memory.watch() as used:
        # 64 MiB of new pages, written to (memory the allocator had kept from earlier tests would
        # not raise the resident set)
        block = mmap.mmap(-1, 64 << 20)
        block.write(b"x" * (64 << 20))
        block.close()
    assert set(used) == {"peak_rss_mb", "rss_start_mb", "peak_increase_mb", "peak_since_start"}
    if used["peak_since_start"]:  # Linux: the peak was reset at the start of the block
        assert used["peak_increase_mb"] >= 60


def test_a_computed_step_records_its_memory_in_its_manifest_and_the_log(tmp_path):
    log = RunLog(tmp_path / "log.jsonl", quiet=True)
    cache = StepCache(tmp_path / "cache")
    folder = cache.run("weak", "k1", lambda f: {"n": 1}, log)
    recorded = json.loads((folder / StepCache.MANIFEST).read_text())["memory"]
    assert recorded["peak_rss_mb"] > 0 and recorded["peak_increase_mb"] >= 0
    done = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()
            if json.loads(line)["event"] == "step_done"]
    assert done[0]["memory"] == recorded
    # A reused step computes nothing: its manifest keeps the memory of the run that computed it.
    assert cache.run("weak", "k1", lambda f: {"n": 2}, log) == folder
    assert json.loads((folder / StepCache.MANIFEST).read_text())["memory"] == recorded


@pytest.mark.slow
def test_a_runs_metrics_and_log_hold_each_steps_peak_memory(tmp_path):
    from w2s_eval.config import load_config
    from w2s_eval.protocol import run_experiment

    tiny = ["splits.max_per_split={A: 32, B: 32, val: 8, test: 16}", "strong_train.epochs=1",
            "strong_train.max_length=32", "eval.n_bootstrap=50", "threads=1"]
    cfg = load_config(None, tiny, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "minilm-l6"})
    run_dir = run_experiment(cfg, tmp_path, quiet=True)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert set(metrics["memory"]) == {"weak", "label", "student", "ceiling"}
    for step, used in metrics["memory"].items():
        assert used["peak_rss_mb"] > 0 and 0 <= used["peak_increase_mb"] <= used["peak_rss_mb"], step
    done = {e["step"]: e["memory"] for e in map(json.loads, (run_dir / "log.jsonl").read_text().splitlines())
            if e["event"] == "step_done"}
    assert done == metrics["memory"]
