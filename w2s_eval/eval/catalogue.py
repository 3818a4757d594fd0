"""Every number w2s-eval reports, in one map: name -> ``Metric`` (its formula, meaning, statistic
and table, range and direction). Sweeps pool, reports print and the lm-eval export labels numbers
from here; each group is defined beside its prose (``eval.metrics`` for accuracies, gap, PGR and a
method's gain; ``deception`` for the imitation and deception numbers).
"""

from __future__ import annotations

from ..deception import DECEPTION, IMITATION
from .metrics import GAIN_METRICS, RUN_METRICS, Metric

# The naive (or no-conflict) student beside a method's or a conflict's student: a sweep keeps its
# per-seed values and pools them by t over seeds.
BASELINE_METRICS = {
    f"baseline_{key}": Metric(f"{metric.name} of the baseline student", f"{metric.meaning}, for the naive "
                              "(no-conflict, direct) student of the same run", bounds=metric.bounds,
                              higher_is_better=metric.higher_is_better)
    for key, metric in (RUN_METRICS | IMITATION).items()
    if key in ("student_acc", "pgr", "acc_WkSk", "acc_WuSk", "imitation_gap", "imitation_share")
}

CATALOGUE: dict[str, Metric] = RUN_METRICS | IMITATION | DECEPTION | BASELINE_METRICS | GAIN_METRICS
