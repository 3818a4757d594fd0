"""A run's trained model as a standard ``save_pretrained`` folder with a model card, to load with
``from_pretrained`` anywhere or push to the hub (``w2s-eval export-model RUN OUT``).

- A LoRA model is merged into its base by default (``merge=False`` keeps the adapter: a PEFT folder
  that names its base). The base is reloaded in full precision for the merge even when training used
  4-bit (QLoRA): the usual way to serve a QLoRA model.
- A fully fine-tuned model is saved as it is.
- The built-in TF-IDF model and linear probes are not transformers models: nothing to
  ``save_pretrained`` (a one-line error says where their pickle is).
- The precision the run computed the model's predictions in is recorded (``w2s_eval_precision`` in
  ``config.json``, and the card): a bf16 run scored under bfloat16 autocast over fp32 weights, and
  its predictions are reproduced only under the same autocast (``exported_precision`` reads it back,
  ``precision.autocast`` applies it). In bf16 a merged LoRA model differs slightly from the run (W + BA
  is rounded once, where the run rounded W and BA apart); the adapter kept reproduces it.

The model card (``README.md``) says how the model was trained — task and data source, which role
it played (weak supervisor, student on the weak labels, or ceiling on ground truth), the weak and
strong models, the W2S method and loss, the seed — and what the run measured, with intervals,
and the provenance of the software that trained it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .errors import UserError
from .eval.metrics import interval_text
from .run_folder import MODEL_ROLES, ZERO_SHOT, Run, read_run

ROLE_TEXT = {
    "student": "the **student**: the strong model trained on the weak supervisor's labels (the W2S student)",
    "ceiling": "the **ceiling**: the strong model trained on ground truth (the reference the student is measured "
               "against)",
    "weak": "the **weak supervisor**: the weak model trained on ground truth of split A, whose labels teach the "
            "student",
}


def export_model(run_dir: str | Path, role: str, out: str | Path, *, merge: bool = True,
                 push_to_hub: str | None = None) -> Path:
    """Write the run's ``role`` model (student | ceiling | weak) to ``out``; return ``out``."""
    from .trainers.common import load_tokenizer
    from .trainers.interface import read_manifest, saved_model_class

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"export-model {out}: a file is there; expected a folder (new, or one to overwrite)")
    run = read_run(run_dir)
    if role not in MODEL_ROLES:
        raise UserError(f"--model {role!r}: expected one of {', '.join(MODEL_ROLES)}")
    folder = run.model_folder(role)
    meta = read_manifest(folder)
    model_class = saved_model_class(folder, meta)
    if not model_class.pretrained_folder:
        raise UserError(f"{run.folder}: the {role} is {model_class.description}, not a transformers model: there is "
                        f"nothing to save_pretrained (its fitted model is in {folder})")
    tokenizer = load_tokenizer(folder)
    lora = meta.get("finetune") == "lora"
    if lora and merge:
        from peft import PeftModel

        base = model_class._load_base(meta["base"], "none", tokenizer.pad_token_id)
        model = PeftModel.from_pretrained(base, folder).merge_and_unload()
    else:
        model = model_class.load(folder).model
    if not (lora and not merge):  # an adapter folder has no config.json of its own: the card says it
        setattr(model.config, PRECISION_ATTRIBUTE, precision_of(meta))
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    card = model_card(run, role, meta, adapter=lora and not merge)
    (out / "README.md").write_text(card)
    if push_to_hub:
        try:
            model.push_to_hub(push_to_hub)
            tokenizer.push_to_hub(push_to_hub)
            from huggingface_hub import upload_file

            upload_file(path_or_fileobj=str(out / "README.md"), path_in_repo="README.md", repo_id=push_to_hub)
        except Exception as exc:  # offline, no token, no rights: the local folder is still written
            raise UserError(f"--push-to-hub {push_to_hub}: {type(exc).__name__}: {str(exc)[:200]} "
                            f"(the model is saved in {out})") from None
    return out


PRECISION_ATTRIBUTE = "w2s_eval_precision"


def precision_of(meta: dict) -> str:
    """The precision a saved model computed in (models saved before the setting: fp32)."""
    return meta.get("precision", "fp32")


def exported_precision(folder: str | Path) -> str:
    """The precision an exported model's run computed in (fp32 where none is recorded)."""
    config = Path(folder) / "config.json"
    if not config.exists():
        return "fp32"
    return json.loads(config.read_text()).get(PRECISION_ATTRIBUTE, "fp32")


def _precision_line(precision: str, adapter: bool) -> str:
    recorded = "" if adapter else f" (`{PRECISION_ATTRIBUTE}` in config.json)"
    if precision == "bf16":
        return ("- Computed in bf16" + recorded + ": the run scored under bfloat16 autocast over fp32 weights; run the "
                "model under `torch.autocast(device_type, dtype=torch.bfloat16)` to reproduce its predictions (in "
                "fp32 they differ slightly; a merged LoRA model rounds its merged weights once, so it differs "
                "slightly too, where the adapter kept does not).")
    return f"- Computed in {precision}{recorded}."


def _interval(entry: dict | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a" + (f" ({entry['reason']})" if entry and entry.get("reason") else "")
    ci = interval_text(entry.get("ci_low"), entry.get("ci_high"))
    if ci is None:
        return f"{entry['value']:.3f} (no interval" + (f": {entry['reason']})" if entry.get("reason") else ")")
    return f"{entry['value']:.3f} {ci}"


def hub_id(role: str, metrics: dict, meta: dict) -> str:
    """The base model as the hub knows it: a zoo model's hub id rather than its local folder."""
    from .models.zoo import ZOO

    ref = (metrics.get("models") or {}).get("weak" if role == "weak" else "strong") or meta["base"]
    return ZOO[ref].hub_id if ref in ZOO else ref


def model_card(run: Run, role: str, meta: dict, adapter: bool) -> str:
    m, config = run.metrics, run.config
    models = m.get("models", {})
    pgr = m.get("pgr", {})
    gap = {"value": m.get("gap"), "ci_low": pgr.get("gap_ci_low"), "ci_high": pgr.get("gap_ci_high")}
    method = m.get("method", "naive") + (f" {json.dumps(m['method_options'])}" if m.get("method_options") else "")
    provenance = m.get("provenance") or {}
    packages = ", ".join(f"{k} {v}" for k, v in (provenance.get("packages") or {}).items() if v)
    git = provenance.get("git") or {}
    deception = m.get("deception") or {}
    front = ["---", "library_name: " + ("peft" if adapter else "transformers"), f"base_model: {hub_id(role, m, meta)}",
             "tags:", "- weak-to-strong", "- w2s-eval", f"- {m.get('task')}", "---", ""]
    lines = [
        f"# {run.id}: {role}",
        "",
        f"This is {ROLE_TEXT[role]}, from a weak-to-strong generalization run of w2s-eval (run `{run.id}`).",
        "",
        "## How it was trained",
        "",
        f"- Task: `{m.get('task')}` ({m.get('source')}), paradigm `{m.get('paradigm')}`, seed {config.get('seed')}.",
        f"- Weak supervisor: `{models.get('weak')}`; strong model: `{models.get('strong')}`"
        + (f"; bootstrapped through {', '.join(m['via'])}" if m.get("via") else "") + ".",
        f"- W2S method: `{method}`; student loss: `{m.get('loss')}`; conflict: `{m.get('conflict', 'none')}`.",
        f"- Base model `{hub_id(role, m, meta)}` (loaded from `{meta['base']}`), fine-tuning `{meta.get('finetune')}`"
        + (" (LoRA adapter, not merged)" if adapter else " (LoRA merged into the base)" if meta.get("finetune") == "lora" else "")
        + ".",
        _precision_line(precision_of(meta), adapter),
        "- Splits: " + ", ".join(f"{k} {v['n']}" for k, v in (m.get("splits") or {}).items()) + " examples.",
        "",
        "## What the run measured (test split, 95% bootstrap intervals)",
        "",
        "| model | accuracy | AUROC |",
        "|---|---|---|",
        *[f"| {r} | {m[r]['acc']:.3f} | {m[r].get('auroc') or float('nan'):.3f} |" for r in MODEL_ROLES if r in m],
        *([f"| zero-shot (the strong model untrained) | {m[ZERO_SHOT]['acc']:.3f} | "
           f"{m[ZERO_SHOT].get('auroc') or float('nan'):.3f} |"] if ZERO_SHOT in m else []),
        "",
        f"- Weak–ceiling gap: {_interval(gap)}.",
        f"- PGR (performance gap recovered by the student): {_interval(pgr)}"
        + ("" if pgr.get("identified", True) else " — not identified: the gap's interval includes zero") + ".",
    ]
    if m.get("student_vs_zero_shot"):
        versus = m["student_vs_zero_shot"]
        lines.append(f"- Student − zero-shot accuracy (paired): {_interval(versus)}: "
                     f"{versus.get('verdict') or 'no verdict'}.")
    if deception.get("imitation_share"):
        lines.append(f"- Imitation share (of the student's avoidable errors, the share its weak teacher makes too): "
                     f"{_interval(deception['imitation_share'])}.")
    if deception.get("deception", {}).get("value") is not None:
        lines.append(f"- Deception (the conflict's cost relative to the no-conflict student where the weak supervisor "
                     f"cannot check minus where it can): {_interval(deception['deception'])}, against a placebo null "
                     f"of {_interval(deception.get('deception_null'))}: {deception['deception'].get('verdict') or 'no verdict'}.")
    lines += ["", "One run, one seed: the intervals cover test sampling only; pool seeds (w2s-eval sweeps) before "
              "quoting a PGR.", "", "## Provenance", "",
              f"- {packages}." if packages else "- (not recorded: a run of an older w2s-eval)",
              f"- Python {provenance.get('python')}, {provenance.get('os')}, CPU {provenance.get('cpu')}, "
              f"GPUs: {', '.join(provenance.get('gpus') or []) or 'none'}." if provenance else "",
              f"- w2s-eval commit {git['commit']}{' (with uncommitted changes)' if git.get('dirty') else ''}."
              if git else "", ""]
    return "\n".join(front + [line for line in lines if line is not None])
