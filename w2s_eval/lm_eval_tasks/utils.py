"""Data hook of the W2S harness tasks (``custom_dataset: !function w2s_eval.lm_eval_tasks.utils.load_w2s``).

lm-eval imports it by its module name from the generated YAMLs (``lm_eval_tasks``), so it works
from any working directory; everything it needs comes from the installed ``w2s_eval`` package.

The documents are the task's test split exactly as ``w2s-eval run`` makes it: the example frame
from the task registry, split with ``assign_splits`` under the packaged seed, fractions and caps
(``load_config(None, [], {"task": name})``). They are ordered by the same per-example hash that
``assign_splits`` uses to apply its caps, so ``--limit N`` takes the N examples a run with a test
cap of N would keep: a pseudo-random sample, identical to that run's test set.
"""

from __future__ import annotations

import pandas as pd

# Columns every document carries; ``choices`` / ``gold`` drive the multiple-choice scoring.
DOC_COLUMNS = ["id", "text", "label", "group", "choices", "gold"]
REWARD_COLUMNS = ["prompt", "chosen", "rejected", "reply_a", "reply_b"]


def build_docs(task, part: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Harness documents of one split: the example columns plus ``choices`` and ``gold``.

    Classification: choices are the task's two label words, gold the label (an index into them).
    Pairwise (reward, utility): choices are reply A and reply B in the frame's randomised order; label 1
    means reply A is the preferred one, so gold is 0 then and 1 otherwise.
    """
    from w2s_eval.splits import unit_hash

    docs = part.copy()
    docs["_order"] = docs["id"].map(lambda i: unit_hash("order", seed, i))
    docs = docs.sort_values(["_order", "id"]).reset_index(drop=True)
    if task.pairwise:
        a_first = docs["label"] == 1
        docs["reply_a"] = docs["chosen"].where(a_first, docs["rejected"])
        docs["reply_b"] = docs["rejected"].where(a_first, docs["chosen"])
        docs["choices"] = [[a, b] for a, b in zip(docs["reply_a"], docs["reply_b"])]
        docs["gold"] = 1 - docs["label"]
        return docs[DOC_COLUMNS + REWARD_COLUMNS]
    docs["choices"] = [list(task.label_names)] * len(docs)
    docs["gold"] = docs["label"]
    return docs[DOC_COLUMNS]


def w2s_splits(name: str, seed=None, fractions=None, max_per_split=None, data_dir=None) -> tuple:
    """(task, split frame) with the packaged split settings unless given."""
    from w2s_eval.config import load_config
    from w2s_eval.splits import assign_splits
    from w2s_eval.tasks import get_task

    defaults = load_config(None, [], {"task": name})
    seed = defaults.seed if seed is None else int(seed)
    task = get_task(name)
    frame, _source = task.load(data_dir or defaults.data.data_dir)
    data = assign_splits(frame, seed, dict(fractions or defaults.splits.fractions),
                         dict(max_per_split or defaults.splits.max_per_split))
    return task, data, seed


def load_w2s(w2s_task: str, w2s_seed=None, w2s_fractions=None, w2s_max_per_split=None,
             w2s_data_dir=None, **_metadata):
    """lm-eval ``custom_dataset``: {"test": the test split, "validation": the few-shot pool}.

    lm-eval calls it with the task's ``dataset_kwargs`` (``w2s_task``) and its metadata (version,
    config source, ``--metadata`` / TaskManager metadata, for the CLI also the model_args), so
    unknown keyword arguments are ignored.
    """
    import datasets

    task, data, seed = w2s_splits(w2s_task, w2s_seed, w2s_fractions, w2s_max_per_split, w2s_data_dir)
    parts = {"test": "test", "validation": "val"}
    return datasets.DatasetDict({
        name: datasets.Dataset.from_pandas(build_docs(task, data[data["split"] == split], seed), preserve_index=False)
        for name, split in parts.items()
    })
