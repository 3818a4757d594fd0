"""Every number w2s-eval reports, in one map: name -> ``Metric`` (its formula, meaning, statistic
and table, range and direction). Sweeps pool, reports print and the lm-eval export labels numbers
from here; each group is defined beside its prose (``eval.metrics`` for accuracies, gap, PGR, a
method's gain and the zero-shot model's numbers; ``deception`` for the imitation and deception numbers).
"""

from __future__ import annotations

from ..deception import DECEPTION, IMITATION
from .metrics import (GAIN_METRICS, RUN_METRICS, ZERO_SHOT_METRICS, Metric, pgr_statistic_of,
                      reference_accuracy_statistic)

# The naive (or no-conflict) student beside a method's or a conflict's student. Its accuracy and PGR
# are statistics of the run's paired table (weak, ceiling, baseline, student: the baseline is m2),
# pooled over seeds exactly as the student's are (its PGR by pgr_from_tables, the ratio of mean
# gaps over every seed); its imitation numbers are pooled by t over the per-seed values.
_BASELINE_STATISTICS = {"student_acc": (reference_accuracy_statistic, None),
                        "pgr": (pgr_statistic_of(4, 2), 2)}
BASELINE_METRICS = {
    f"baseline_{key}": Metric(f"{metric.name} of the baseline student", f"{metric.meaning}, for the naive "
                              "(no-conflict, direct) student of the same run", bounds=metric.bounds,
                              higher_is_better=metric.higher_is_better,
                              statistic=_BASELINE_STATISTICS.get(key, (None, None))[0],
                              table="paired" if key in _BASELINE_STATISTICS else None,
                              pgr_of=_BASELINE_STATISTICS.get(key, (None, None))[1])
    for key, metric in (RUN_METRICS | IMITATION).items()
    if key in ("student_acc", "pgr", "acc_WkSk", "acc_WuSk", "imitation_gap", "imitation_share")
}

CATALOGUE: dict[str, Metric] = (RUN_METRICS | IMITATION | DECEPTION | BASELINE_METRICS | GAIN_METRICS
                                | ZERO_SHOT_METRICS)
