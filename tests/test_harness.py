"""lm-evaluation-harness integration, offline, on the real lm_eval package, the real data and the
real smollm2-135m zoo model: the W2S tasks as harness tasks, a run's student handed to HFLM,
and runs exported as harness results files that the harness's own readers load back.

The environment comes from conftest.py (offline hub, one thread, W2S_DATA_DIR, W2S_CACHE_DIR);
everything else is built here: a tiny classify run with a decoder student (smollm2-135m, one
epoch, 32 examples per split) is the one shared fixture.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from lm_eval.result_schema import EvalResults
from lm_eval.tasks import TaskManager
from lm_eval.utils import get_file_datetime, get_latest_filename, get_results_filenames, make_table

from w2s_eval import harness
from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.lm_eval_tasks import config_files, harness_name
from w2s_eval.splits import assign_splits, unit_hash
from w2s_eval.tasks import TASKS, get_task

W2S_TASKS = [harness_name(name) for name in TASKS]  # every registered task, in the group's order
LIMIT = 8


def smollm2() -> Path:
    from w2s_eval.models import zoo

    return zoo.pull("smollm2-135m", progress=None)


def packaged_split(name: str, **caps) -> pd.DataFrame:
    cfg = load_config(None, [], {"task": name})
    frame, _ = get_task(name).load()
    return assign_splits(frame, cfg.seed, cfg.splits.fractions, cfg.splits.max_per_split | caps)


@pytest.fixture(scope="module")
def w2s_loaded(tmp_path_factory):
    """The `w2s` group loaded by lm-eval's TaskManager from another working directory."""
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("elsewhere"))
    try:
        manager = TaskManager(include_path=harness.tasks_path(), include_defaults=False)
        return manager, manager.load(["w2s"])
    finally:
        os.chdir(cwd)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    from w2s_eval.protocol import run_experiment

    cfg = load_config(None, ["splits.max_per_split={A: 32, B: 32, val: 8, test: 32}", "strong_train.epochs=1",
                             "strong_train.max_length=48", "eval.n_bootstrap=50", "threads=1"],
                      {"task": "toxicity", "weak_model": "tfidf", "strong_model": "smollm2-135m"})
    return run_experiment(cfg, tmp_path_factory.mktemp("runs"), quiet=True)


# -- the W2S tasks as harness tasks ------------------------------------------------------------

def test_harness_indexes_the_w2s_group_and_its_tasks(w2s_loaded):
    manager, loaded = w2s_loaded
    # The folder holds the YAMLs generated from the registry, nothing else.
    assert {path.name: path.read_text() for path in Path(harness.tasks_path()).iterdir()} == config_files()
    assert "w2s" in manager.all_groups and set(W2S_TASKS) <= set(manager.all_subtasks)
    assert loaded["group_map"]["w2s"] == W2S_TASKS
    for name in W2S_TASKS:
        task = loaded["tasks"][name]
        assert task.OUTPUT_TYPE == "multiple_choice"
        doc = task.eval_docs[0]
        prompt = task.fewshot_context(doc, 0)
        choices = task.doc_to_choice(doc)
        if get_task(name.removeprefix("w2s_")).pairwise:
            if name == "w2s_reward":
                assert prompt == f"Human: {doc['prompt']}\n\nAssistant:"
            assert choices == [doc["reply_a"], doc["reply_b"]] and choices[task.doc_to_target(doc)] == doc["chosen"]
        else:
            assert doc["text"] in prompt and prompt.endswith("Answer:")
            assert choices == list(get_task(name.removeprefix("w2s_")).label_names)
            assert task.doc_to_target(doc) == doc["label"]


def test_harness_docs_are_the_test_split_w2s_eval_makes(w2s_loaded):
    _, loaded = w2s_loaded
    for name in W2S_TASKS:
        task, short = loaded["tasks"][name], name.removeprefix("w2s_")
        data = packaged_split(short)
        test_ids = data.loc[data["split"] == "test", "id"]
        docs = task.eval_docs
        # Exactly the test split, ordered by the hash assign_splits caps with (seed 0).
        assert docs["id"] == sorted(test_ids, key=lambda i: (unit_hash("order", 0, i), i))
        assert set(task.dataset["validation"]["id"]) == set(data.loc[data["split"] == "val", "id"])
        assert not set(docs["id"]) & set(data.loc[data["split"].isin(["A", "B", "val"]), "id"])
        if get_task(short).pairwise:
            assert all(d["choices"][d["gold"]] == d["chosen"] and d["choices"][1 - d["gold"]] == d["rejected"]
                       for d in docs)
        else:
            assert docs["gold"] == docs["label"]
    # --limit N takes the test set of a run whose test cap is N.
    capped = packaged_split("toxicity", test=32)
    assert set(loaded["tasks"]["w2s_toxicity"].eval_docs["id"][:32]) == set(capped.loc[capped["split"] == "test", "id"])


@pytest.mark.slow
def test_lm_eval_cli_scores_a_zoo_model_on_the_w2s_group(tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args", f"pretrained={smollm2()}",
         "--tasks", "w2s", "--include_path", harness.tasks_path(), "--limit", "4", "--device", "cpu",
         "--output_path", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = get_results_filenames([str(p) for p in out.rglob("*.json")])
    assert len(files) == 1
    results = json.loads(Path(files[0]).read_text())
    assert set(W2S_TASKS) <= set(results["results"]) and "w2s" in results["groups"]
    for name in W2S_TASKS:
        assert results["n-samples"][name]["effective"] == 4
        assert 0 <= results["results"][name]["acc,none"] <= 1
    assert "w2s_reward" in make_table(results) and "w2s" in make_table(results, "groups")


# -- a run's models as causal LMs --------------------------------------------------------------

@pytest.mark.slow
def test_student_lm_carries_the_trained_classifier_body(tiny_run):
    from transformers import AutoModelForCausalLM

    from w2s_eval.trainers.classify import TransformerClassifier

    folder = harness.model_folder(tiny_run, "student")
    lm, tokenizer = harness.load_causal_lm(folder, device="cpu")
    classifier = TransformerClassifier.load(folder)
    base = AutoModelForCausalLM.from_pretrained(smollm2())
    batch = tokenizer(["immigrants make this country better", "a statement"], return_tensors="pt", padding=True)
    with torch.no_grad():
        ours = lm.base_model(**batch).last_hidden_state
        trained = classifier.model.get_base_model().base_model(**batch).last_hidden_state
        untouched = base.base_model(**batch).last_hidden_state
    assert torch.allclose(ours, trained, atol=1e-3)  # LoRA merged into the body: same function
    assert (ours - untouched).abs().max() > 1e-2  # and not the base model's body
    assert lm.lm_head.weight.data_ptr() == lm.base_model.embed_tokens.weight.data_ptr()  # tied head kept


@pytest.mark.slow
def test_evaluate_run_model_writes_lm_eval_results_for_the_asked_tasks(tiny_run):
    path = harness.evaluate_run_model(tiny_run, "student", ["w2s_toxicity", "w2s_safety"], limit=LIMIT,
                                      log_samples=True)
    assert path.parent == tiny_run / "lm_eval" / "student" and get_results_filenames([str(path)]) == [str(path)]
    results = json.loads(path.read_text())
    assert set(results["results"]) == {"w2s_toxicity", "w2s_safety"}
    assert all(results["n-samples"][t]["effective"] == LIMIT for t in results["results"])
    assert results["config"]["model"] == f"{tiny_run.name}/student" and results["model_name"] == f"{tiny_run.name}/student"
    # The run's own splits: the toxicity docs are its test examples (never B, the student's inputs).
    samples = next(path.parent.glob("samples_w2s_toxicity_*.jsonl"))
    scored = [json.loads(line)["doc"]["id"] for line in samples.read_text().splitlines()]
    run_test = set(pd.read_parquet(tiny_run / "predictions.parquet")["id"])
    assert len(scored) == LIMIT and set(scored) <= run_test
    assert harness.read_results(path)["results"] == results["results"]


@pytest.mark.slow
def test_models_that_are_not_causal_lms_are_user_errors(tiny_run, tmp_path):
    with pytest.raises(UserError, match="tfidf"):
        harness.evaluate_run_model(tiny_run, "weak", ["w2s_toxicity"], limit=2)
    with pytest.raises(UserError, match="unknown model 'teacher'"):
        harness.evaluate_run_model(tiny_run, "teacher", ["w2s_toxicity"])
    with pytest.raises(UserError, match="no metrics.json"):
        harness.evaluate_run_model(tmp_path, "student", ["w2s_toxicity"])


def test_an_encoder_student_is_a_user_error(tmp_path):
    from transformers import BertConfig

    base, folder = tmp_path / "encoder", tmp_path / "model"
    BertConfig(architectures=["BertModel"]).save_pretrained(base)
    folder.mkdir()
    (folder / "w2s_model.json").write_text(json.dumps({
        "model_class": "w2s_eval.trainers.classify:TransformerClassifier", "base": str(base), "finetune": "lora",
        "quant": "none"}))
    with pytest.raises(UserError, match="not a causal language model"):
        harness.load_causal_lm(folder)


@pytest.mark.slow
def test_a_causal_lm_adapter_is_loaded_and_merged(tmp_path):
    """The sft / dpo case: the saved model is a PeftModel of AutoModelForCausalLM."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(smollm2())
    policy = get_peft_model(AutoModelForCausalLM.from_pretrained(smollm2()), LoraConfig(
        task_type="CAUSAL_LM", r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    folder = tmp_path / "model"
    policy.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "w2s_model.json").write_text(json.dumps(
        {"model_class": "w2s_eval.trainers.sft:SFTModel", "base": str(smollm2()), "finetune": "lora", "quant": "none",
         "task_type": "CAUSAL_LM"}))
    lm, _ = harness.load_causal_lm(folder, device="cpu")
    batch = tokenizer(["Human: hello\n\nAssistant: hi"], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(lm(**batch).logits, policy(**batch).logits, atol=1e-3)


# -- exporting runs as harness results ---------------------------------------------------------

def check_round_trip(path: Path) -> dict:
    """Load a results file as the harness does and check it matches what was written."""
    data = json.loads(path.read_text())
    assert set(data) <= set(EvalResults.__annotations__)
    assert get_results_filenames([str(path)]) == [str(path)]
    assert get_file_datetime(path.name).startswith(path.stem.removeprefix("results_"))  # it keeps ".json"
    back = harness.read_results(path)  # datasets' json reader, as the harness's hub card builder
    assert back["results"] == data["results"] and back["versions"] == data["versions"]
    table = make_table(back)
    for metric in ("student_acc", "weak_acc", "ceiling_acc", "pgr"):
        assert metric in table
    return data


@pytest.mark.slow
def test_export_writes_harness_results_that_round_trip(tiny_run, tmp_path):
    from w2s_eval.deception import write_deception

    metrics = json.loads((tiny_run / "metrics.json").read_text())
    files = harness.export_lm_eval(tiny_run)
    assert len(files) == 1 and files[0].parent == tiny_run / "lm_eval" / "w2s"
    data = check_round_trip(files[0])
    task = "w2s_toxicity_large"
    values = data["results"][task]
    assert values["acc,none"] == values["student_acc,none"] == metrics["student"]["acc"]
    for role in ("weak", "student", "ceiling"):
        assert values[f"{role}_acc,none"] == metrics[role]["acc"] and 0 < values[f"{role}_acc_stderr,none"] < 0.2
    assert values["pgr,none"] == metrics["pgr"]["value"]  # null here: the tiny run's gap is under min_gap
    # smollm2 is a causal LM, so even this classify run has a zero-shot model, exported beside the others
    assert values["zero_shot_acc,none"] == metrics["zero_shot"]["acc"] and 0 < values["zero_shot_acc_stderr,none"] < 0.2
    assert data["n-samples"][task]["effective"] == 32 and data["configs"][task]["metadata"]["run_id"] == tiny_run.name
    assert harness.export_lm_eval(tiny_run) == files and len(list(files[0].parent.iterdir())) == 1  # re-export replaces

    # A sweep folder: the run, and a copy whose PGR is defined and that has deception numbers.
    sweep = tmp_path / "sweep"
    shutil.copytree(tiny_run, sweep / tiny_run.name)
    other = sweep / (tiny_run.name + "x")
    shutil.copytree(tiny_run, other)
    shutil.rmtree(other / "lm_eval")
    changed = dict(metrics, pgr={"value": 0.5, "ci_low": 0.1, "ci_high": 0.9, "n_boot": 50, "undefined_share": 0.0})
    (other / "metrics.json").write_text(json.dumps(changed))
    report = write_deception(other)
    written = harness.export_lm_eval(sweep, out_dir=tmp_path / "board")
    assert [p.parent.name for p in written] == [tiny_run.name, other.name]
    assert sorted(get_results_filenames([str(p) for p in (tmp_path / "board").rglob("*.json")])) == sorted(map(str, written))
    assert get_latest_filename([str(p) for p in written]) in map(str, written)
    values = check_round_trip(written[1])["results"][task]
    assert values["pgr,none"] == 0.5 and values["pgr_stderr,none"] == pytest.approx(0.8 / (2 * 1.959964), rel=1e-5)
    for key in ("acc_WkSk", "acc_WuSk", "imitation_gap", "imitation_share", "error_WuSk", "deception"):
        assert values[f"{key},none"] == report[key]["value"]
    assert values["deception,none"] is None  # no conflict: deception is not measured
    assert [p.parent for p in harness.export_lm_eval(sweep)] == [sweep / "lm_eval" / tiny_run.name, sweep / "lm_eval" / other.name]
