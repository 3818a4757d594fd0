"""lm-evaluation-harness integration (DESIGN.md, "lm-eval-harness").

Three pieces, all on the real ``lm_eval`` package (0.4.13):

1. ``tasks_path()``: the folder of the W2S tasks as harness tasks (``w2s`` group; ``w2s_safety``,
   ``w2s_toxicity``, ``w2s_legal``, ``w2s_reward``), for ``--include_path`` / ``TaskManager``.
2. ``evaluate_run_model(run_dir, model, tasks, limit)``: one model of a finished run (student,
   ceiling or weak) as a causal LM in ``HFLM``, scored by ``simple_evaluate``; the results are
   saved by lm-eval's own ``EvaluationTracker`` as ``runs/<id>/lm_eval/<model>/results_<ts>.json``.
3. ``export_lm_eval(path)``: a run's (or a sweep's runs') W2S metrics as lm-eval results JSON,
   one task ``w2s_<task>_<gap>`` per run, readable by the harness's results readers.

lm-eval scores causal LMs. ``classify`` runs train sequence classifiers; for a decoder LM the
classifier's body (with its LoRA adapter merged) is put back under the base model's LM head,
so the harness sees the student's fine-tuned body. Encoders (MiniLM, MPNet) have no LM head
to score text with: asking for one is a ``UserError``.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from pathlib import Path


from .errors import UserError
from .eval.metrics import right
from .run_folder import MODEL_ROLES, PREDICTIONS, RECORD, find_runs, read_predictions, read_run

TASKS_DIR = Path(__file__).resolve().parent / "lm_eval_tasks"
SEQ_CLS, CAUSAL_LM = "seq-cls", "causal-lm"


def tasks_path() -> str:
    """The folder holding the W2S harness tasks (give it to ``--include_path``)."""
    return str(TASKS_DIR)


def _lm_eval():
    try:
        import lm_eval
    except ImportError:
        raise UserError("the lm-eval-harness integration needs lm-eval: pip install 'lm-eval==0.4.13'") from None
    return lm_eval


def task_manager(tasks: list[str] | None = None, metadata: dict | None = None):
    """A ``TaskManager`` that knows the W2S tasks.

    Indexing lm-eval's own ~14,000 task configs takes seconds, so they are left out when every
    asked task is a W2S one.
    """
    _lm_eval()
    from lm_eval.tasks import TaskManager

    own = TaskManager(include_path=tasks_path(), include_defaults=False, metadata=metadata)
    if tasks is not None and all(name in own.all_tasks for name in tasks):
        return own
    return TaskManager(include_path=tasks_path(), metadata=metadata)


# -- one model of a run as a causal LM --------------------------------------------------------

def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON: {exc}") from None


def _run_files(run_dir: Path) -> tuple[dict, dict]:
    """(metrics.json, config.yaml) of a finished run."""
    run = read_run(run_dir)
    return run.metrics, run.config


def model_folder(run_dir: str | Path, model: str = "student") -> Path:
    """The saved model of one role of a run: ``<out>/.cache/<role>-<key>/model``."""
    return read_run(run_dir).model_folder(model)


def _architectures_kind(archs) -> str | None:
    archs = archs or []
    if any("SequenceClassification" in a for a in archs):
        return SEQ_CLS
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return CAUSAL_LM
    return None


def saved_model_kind(folder: Path, meta: dict) -> str:
    """``seq-cls`` or ``causal-lm``: what head the saved model (or adapter) was trained with.

    In order: ``task_type`` in w2s_model.json (written by the generative paradigms); the peft
    adapter's ``task_type`` or the class it was trained on; the folder's config architectures.
    """
    task_type = str(meta.get("task_type") or "").upper().replace("-", "_")
    adapter = folder / "adapter_config.json"
    if not task_type and adapter.exists():
        adapter_cfg = _read_json(adapter)
        task_type = str(adapter_cfg.get("task_type") or "").upper()
        if not task_type:
            kind = _architectures_kind([(adapter_cfg.get("auto_mapping") or {}).get("base_model_class") or ""])
            if kind:
                return kind
    if task_type:
        if task_type in ("SEQ_CLS", "SEQ_CLASSIFICATION", "CLASSIFY"):
            return SEQ_CLS
        if task_type in ("CAUSAL_LM", "CAUSAL"):
            return CAUSAL_LM
        raise UserError(f"{folder}: task_type {task_type!r} is neither SEQ_CLS nor CAUSAL_LM")
    if (folder / "config.json").exists():
        from transformers import AutoConfig

        kind = _architectures_kind(AutoConfig.from_pretrained(folder).architectures)
        if kind:
            return kind
    # A classify-paradigm folder (its w2s_model.json has no task_type).
    return SEQ_CLS


def base_is_causal_lm(base: str) -> bool:
    """Whether the base checkpoint is a decoder LM (its architectures name a causal-LM class)."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(base)
    causal_classes = {c for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() for c in ((v,) if isinstance(v, str) else v)}
    if config.architectures:
        return any(a in causal_classes for a in config.architectures)
    return config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not getattr(config, "is_encoder_decoder", False)


def _default_dtype(device: str):
    import torch

    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _shared_body_classifier(causal, base: str, pad_token_id):
    """A sequence classifier of ``base`` whose body *is* ``causal``'s body (shared modules).

    Built on the meta device, then the body is swapped for the causal LM's and only the small
    head is materialised, so the weights exist once. Loading the classify adapter into this
    model and merging it writes the fine-tuned body straight into ``causal``.
    """
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    config = AutoConfig.from_pretrained(base, num_labels=2)
    config.pad_token_id = pad_token_id
    with torch.device("meta"):
        classifier = AutoModelForSequenceClassification.from_config(config)
    prefix = classifier.base_model_prefix
    body = causal.base_model
    if type(classifier.base_model) is not type(body):
        raise UserError(f"{base}: the sequence classifier's body ({type(classifier.base_model).__name__}) is not "
                        f"the causal LM's body ({type(body).__name__}); cannot move the adapter across")
    setattr(classifier, prefix, body)
    device = next(body.parameters()).device
    for name, module in classifier.named_children():
        if name != prefix:
            module.to_empty(device=device)
    return classifier


def load_causal_lm(folder: str | Path, device: str | None = None, dtype=None):
    """(causal LM, tokenizer) for a saved w2s-eval model folder (one with ``w2s_model.json``).

    - classify + LoRA (a sequence classifier's adapter): the base causal LM, with the adapter
      loaded into a classifier that shares its body and merged, so the LM's body is the
      student's; the classification head is dropped, the base LM head kept. The base is loaded
      in full precision (bf16 on CUDA) even if training used 4-bit: the adapter is merged into
      unquantised weights, the usual way to serve a QLoRA model.
    - classify, full / head fine-tuning: the saved classifier's body copied into the base LM.
    - causal LM + LoRA (sft / dpo): the adapter on the base causal LM, merged.
    - causal LM saved whole: loaded as it is.
    An encoder base (MiniLM, MPNet, ...) is a UserError: it has no LM head to score text with.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(folder)
    meta_path = folder / "w2s_model.json"
    if not meta_path.exists():
        if (folder / "bow.pkl").exists():
            raise UserError(f"{folder}: the builtin tfidf model is not a language model; lm-eval-harness "
                            f"scores causal LMs (the weak model of a run with --weak tfidf cannot be evaluated)")
        raise UserError(f"{folder}: no w2s_model.json (not a model saved by w2s-eval)")
    meta = _read_json(meta_path)
    base = meta["base"]
    kind = saved_model_kind(folder, meta)
    if not base_is_causal_lm(base):
        raise UserError(f"{folder}: its base model {base} is not a causal language model (an encoder?); "
                        f"lm-eval-harness scores text with an LM head, so it needs a decoder LM "
                        f"(e.g. run with --strong smollm2-135m or a Qwen / Llama checkpoint)")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = dtype or _default_dtype(device)
    has_tokenizer = (folder / "tokenizer_config.json").exists()
    tokenizer = AutoTokenizer.from_pretrained(folder if has_tokenizer else base)
    lora = (folder / "adapter_config.json").exists()

    if kind == CAUSAL_LM and not lora:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
        if kind == CAUSAL_LM:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, folder).merge_and_unload()
        elif lora:
            from peft import PeftModel

            pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            classifier = _shared_body_classifier(model, base, pad)
            PeftModel.from_pretrained(classifier, folder).merge_and_unload()
            del classifier
        else:
            classifier = AutoModelForSequenceClassification.from_pretrained(folder, dtype=dtype)
            if type(classifier.base_model) is not type(model.base_model):
                raise UserError(f"{folder}: the classifier's body ({type(classifier.base_model).__name__}) is "
                                f"not the base LM's body ({type(model.base_model).__name__})")
            model.base_model.load_state_dict(classifier.base_model.state_dict())
            del classifier
    model.to(device).eval()
    return model, tokenizer


def _results_file(folder: Path, date_id: str) -> Path:
    return folder / f"results_{date_id}.json"


def _run_task_metadata(config: dict) -> dict:
    """Metadata that makes the W2S harness tasks use this run's splits (seed, fractions, caps).

    With another seed the harness's test split of the run's task would overlap the student's
    training split B; with the run's settings it is exactly the run's test set.
    """
    splits = config.get("splits") or {}
    meta = {"w2s_seed": config.get("seed", 0), "w2s_fractions": splits.get("fractions"),
            "w2s_max_per_split": splits.get("max_per_split"), "w2s_data_dir": (config.get("data") or {}).get("data_dir")}
    return {k: v for k, v in meta.items() if v is not None}


def evaluate_run_model(run_dir: str | Path, model: str = "student", tasks: list[str] | tuple[str, ...] = ("w2s",),
                       limit: int | float | None = None, *, batch_size: int | str = 8, device: str | None = None,
                       num_fewshot: int | None = None, log_samples: bool = False) -> Path:
    """Score one model of a finished run with lm-eval; return the results file.

    ``tasks`` are harness task / group names: the W2S ones (``w2s``, ``w2s_toxicity``, ...,
    on this run's splits) and any of lm-eval's own (which need their datasets: the hub or its
    cache). The file is ``<run>/lm_eval/<model>/results_<timestamp>.json``, written by lm-eval's
    ``EvaluationTracker`` in its usual layout; with ``log_samples`` the per-example
    ``samples_<task>_<timestamp>.jsonl`` files go beside it.
    """
    _lm_eval()
    import lm_eval
    from lm_eval.loggers import EvaluationTracker
    from lm_eval.models.huggingface import HFLM

    run_dir = Path(run_dir)
    tasks = [tasks] if isinstance(tasks, str) else list(tasks)
    if not tasks:
        raise UserError("name at least one lm-eval task (e.g. w2s, w2s_toxicity)")
    _, config = _run_files(run_dir)
    folder = model_folder(run_dir, model)
    manager = task_manager(tasks, metadata=_run_task_metadata(config))
    missing = [t for t in tasks if t not in manager.all_tasks]
    if missing:
        raise UserError(f"unknown lm-eval task(s) {', '.join(missing)} (see: lm-eval ls tasks --include_path {tasks_path()})")
    lm_model, tokenizer = load_causal_lm(folder, device=device)

    out = run_dir / "lm_eval" / model
    tracker = EvaluationTracker(output_path=str(out / "results.json"))  # -> out/results_<date>.json
    lm = HFLM(pretrained=lm_model, tokenizer=tokenizer, batch_size=batch_size)
    results = lm_eval.simple_evaluate(model=lm, tasks=tasks, limit=limit, num_fewshot=num_fewshot,
                                      task_manager=manager, evaluation_tracker=tracker, log_samples=log_samples)
    name = f"{run_dir.name}/{model}"
    results["config"]["model"] = name
    results["config"]["model_args"] = {"run": str(run_dir), "model": model, "folder": str(folder),
                                       **_read_json(folder / "w2s_model.json")}
    tracker.general_config_tracker.log_experiment_args(
        model_source="w2s-eval", model_args=f"model={name}", system_instruction=None,
        chat_template=None, fewshot_as_multiturn=False)
    samples = results.pop("samples", None)
    tracker.save_results_aggregated(results=results, samples=samples)
    if log_samples and samples:
        for task_name in results.get("configs", {}):
            if task_name in samples:
                tracker.save_results_samples(task_name=task_name, samples=samples[task_name])
    path = _results_file(out, getattr(tracker, "date_id", ""))
    if not path.exists():
        raise UserError(f"lm-eval did not write its results file under {out} (see the log above)")
    return path


# -- exporting runs as lm-eval results --------------------------------------------------------

def _z(level: float) -> float:
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def _stderr_from_interval(low, high, level: float):
    """The standard error a normal interval of this width would have: (high − low) / (2 z); "N/A"
    without an interval or with an unbounded side (±inf)."""
    if low is None or high is None or not math.isfinite(float(high) - float(low)):
        return "N/A"
    return (float(high) - float(low)) / (2 * _z(level))


def _deception_metrics(report: dict, level: float, out: dict, hib: dict):
    """The deception report's numbers (``deception.NUMBERS``: the deception numbers of a conflict run
    and the imitation numbers of every run) under their own names, each with a stderr read off its
    bootstrap interval as for PGR, and the ``chance`` baselines of the shares. The size of each
    number's denominator region goes to the task config's metadata (``deception_n``)."""
    from .deception import NUMBERS

    level = float(report.get("level") or level)
    for key, number in NUMBERS.items():
        entry = report.get(key)
        if not isinstance(entry, dict):
            continue
        value = entry.get("value")
        out[f"{key},none"] = None if value is None else float(value)
        out[f"{key}_stderr,none"] = (_stderr_from_interval(entry.get("ci_low"), entry.get("ci_high"), level)
                                    if value is not None else "N/A")
        hib[key] = number.higher_is_better
        if isinstance(entry.get("chance"), (int, float)):
            out[f"{key}_chance,none"] = float(entry["chance"])
            hib[f"{key}_chance"] = None


def export_task_name(metrics: dict, config: dict) -> str:
    """``w2s_<task>_<gap>``, e.g. w2s_toxicity_large (custom data: w2s_custom_<file stem>_<gap>)."""
    import re

    task = metrics.get("task") or config.get("task") or "custom"
    data_file = (config.get("data") or {}).get("file")
    if data_file:
        task = "custom_" + Path(data_file).stem
    return re.sub(r"\W", "_", f"w2s_{task}_{config.get('gap', 'gap')}")


def run_results(run_dir: str | Path) -> dict:
    """One run's metrics as an lm-eval results dict (``EvalResults`` layout).

    The task is ``w2s_<task>_<gap>``. ``acc`` is the student's accuracy (the W2S model is what a
    leaderboard row compares); ``weak_acc`` / ``student_acc`` / ``ceiling_acc`` (and ``*_auroc``)
    name every model; accuracies carry lm-eval's own ``mean_stderr`` over the stored per-example
    correctness. ``pgr``'s stderr is read off its percentile bootstrap interval as
    (ci_high − ci_low) / (2 z), z = 1.96 for the 95% level: the stderr of a normal interval of
    the same width ("N/A" when PGR or its interval is undefined, and PGR is null then).
    """
    from lm_eval.api.metrics import mean_stderr

    run_dir = Path(run_dir)
    metrics, config = _run_files(run_dir)
    task = export_task_name(metrics, config)
    level = float((config.get("eval") or {}).get("level", 0.95))
    predictions = read_predictions(run_dir) if (run_dir / PREDICTIONS).exists() else None

    values: dict = {"alias": task}
    hib: dict = {}

    def put(name, value, stderr=None, higher=True):
        values[f"{name},none"] = value
        if stderr is not None:
            values[f"{name}_stderr,none"] = stderr
        hib[name] = higher

    def acc_stderr(role):
        if predictions is None or role not in predictions:
            return "N/A"
        correct = right(predictions["label"], predictions[role]).astype(float).tolist()
        return float(mean_stderr(correct)) if len(correct) > 1 else "N/A"

    put("acc", metrics["student"]["acc"], acc_stderr("student"))
    for role in MODEL_ROLES:
        put(f"{role}_acc", metrics[role]["acc"], acc_stderr(role))
    for role in MODEL_ROLES:
        if metrics[role].get("auroc") is not None:
            put(f"{role}_auroc", metrics[role]["auroc"])
    put("gap", metrics.get("gap"), higher=None)
    pgr = metrics.get("pgr") or {}
    put("pgr", pgr.get("value"), _stderr_from_interval(pgr.get("ci_low"), pgr.get("ci_high"), level)
        if pgr.get("value") is not None else "N/A")
    deception, sizes = metrics.get("deception"), None
    if isinstance(deception, dict):
        _deception_metrics(deception, level, values, hib)
        sizes = {k: v["n"] for k, v in deception.items() if isinstance(v, dict) and "value" in v and "n" in v}
    n_test = int(metrics.get("n_test") or (len(predictions) if predictions is not None else 0))
    finished = (run_dir / RECORD).stat().st_mtime
    strong_train = config.get("strong_train") or {}
    task_config = {
        "task": task,
        "tag": ["w2s"],
        "dataset_path": metrics.get("source"),
        "test_split": "test",
        "output_type": "w2s-eval",
        "metric_list": [{"metric": m, "higher_is_better": h} for m, h in hib.items()],
        "metadata": {
            "version": 1.0, "run_id": run_dir.name, "task": metrics.get("task"), "gap": config.get("gap"),
            "paradigm": metrics.get("paradigm"), "loss": metrics.get("loss"), "seed": config.get("seed"),
            "weak_model": (metrics.get("models") or {}).get("weak"),
            "strong_model": (metrics.get("models") or {}).get("strong"),
            "strong_finetune": strong_train.get("finetune"), "splits": metrics.get("splits"),
            "pgr_ci_low": pgr.get("ci_low"), "pgr_ci_high": pgr.get("ci_high"), "pgr_level": level,
            "pgr_n_boot": pgr.get("n_boot"), "pgr_reason": pgr.get("reason"),
            **({"deception_n": sizes} if sizes else {}),
        },
    }
    results = {
        "results": {task: values},
        "group_subtasks": {task: []},
        "configs": {task: task_config},
        "versions": {task: 1.0},
        "n-shot": {task: 0},
        "higher_is_better": {task: hib},
        "n-samples": {task: {"original": n_test, "effective": n_test}},
        "config": {
            "model": run_dir.name,
            "model_args": {"run": run_dir.name, "weak": (metrics.get("models") or {}).get("weak"),
                           "strong": (metrics.get("models") or {}).get("strong"),
                           "paradigm": metrics.get("paradigm"), "loss": metrics.get("loss"),
                           "seed": config.get("seed")},
            "batch_size": None, "batch_sizes": [], "device": None, "use_cache": None, "limit": None,
            "bootstrap_iters": pgr.get("n_boot"), "gen_kwargs": None, "random_seed": config.get("seed"),
        },
        "git_hash": None,
        "date": finished,
        "model_source": "w2s-eval",
        "model_name": run_dir.name,
        "model_name_sanitized": _sanitize(run_dir.name),
        "task_hashes": {},
        "total_evaluation_time_seconds": str(metrics.get("seconds", "")),
    }
    try:
        from importlib.metadata import version

        results["lm_eval_version"] = version("lm_eval")
    except Exception:  # noqa: BLE001 - the version is informational
        pass
    return results


def _sanitize(name: str) -> str:
    from lm_eval.utils import sanitize_model_name

    return sanitize_model_name(name)


def export_lm_eval(path: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write each run's W2S metrics as an lm-eval results JSON; return the files.

    Layout as lm-eval's ``--output_path``: ``<out>/<model>/results_<timestamp>.json`` with the
    run id as the model. ``out_dir`` defaults to ``<sweep>/lm_eval`` for a sweep; for a single
    run the file goes to ``<run>/lm_eval/w2s/``. The timestamp is when the run finished
    (metrics.json), so exporting again replaces the file instead of adding copies. Serialised
    the way lm-eval's ``EvaluationTracker`` does (``handle_non_serializable``).
    """
    _lm_eval()
    from lm_eval.utils import handle_non_serializable

    from .store import atomic_write_text

    path = Path(path)
    runs = find_runs(path)
    single = runs == [path]
    written = []
    for run in runs:
        results = run_results(run)
        if out_dir is not None:
            folder = Path(out_dir) / results["model_name_sanitized"]
        elif single:
            folder = run / "lm_eval" / "w2s"
        else:
            folder = path / "lm_eval" / results["model_name_sanitized"]
        date_id = _dt.datetime.fromtimestamp(results["date"]).isoformat().replace(":", "-")
        target = _results_file(folder, date_id)
        atomic_write_text(target, json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False))
        written.append(target)
    return written


def read_results(path: str | Path) -> dict:
    """Read a results file back the way the harness's hub card builder does
    (``datasets.load_dataset("json", ...)``), returning {"results": ..., the other columns}."""
    import datasets

    table = datasets.load_dataset("json", data_files=str(path), split="train")
    return {column: table[column][0] for column in table.column_names}


def results_table(results: dict) -> str:
    """lm-eval's markdown table of a results dict (its ``make_table``), groups included."""
    from lm_eval.utils import make_table

    text = make_table(results)
    if results.get("groups"):
        text += "\n" + make_table(results, "groups")
    return text
