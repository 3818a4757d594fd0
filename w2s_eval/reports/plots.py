"""The report's figures as PNG bytes (matplotlib, Agg, no pyplot state).

Every figure has one panel per task (deception and imitation: one row of two panels per task) and
the gaps on the x axis; points are pooled values with their intervals (a single run: its bootstrap
interval over test examples; several seeds: a hierarchical bootstrap over seeds and examples), and
conditions (losses, ...) sit side by side.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from ..errors import UserError
from .collect import ReportData

WEAK, CEILING, ZERO_SHOT = "#7a7a7a", "#1b7837", "#b8860b"
STUDENTS = ("#2166ac", "#b2182b", "#762a83", "#e08214", "#35978f")
KNOWN, UNKNOWN = "#2166ac", "#d6604d"  # W_k ∩ S_k, W_u ∩ S_k
CONDITION_MARKERS = ("o", "s", "^", "v", "P")
DPI = 100


def _width(n_gaps: int, n_cols: int) -> float:
    """Narrow panels for few gaps (a single run is one gap), at most 10 inches in all."""
    return min(10.0, n_cols * min(10.0 / n_cols, 3.0 + 1.9 * n_gaps))


def _figure(n_rows: int, n_cols: int, width: float = 10.0, row_height: float = 3.6):
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UserError("reports need matplotlib: pip install matplotlib") from None
    fig = Figure(figsize=(width, row_height * n_rows + 0.4), dpi=DPI, layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    return fig, axes


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _grid(n: int, per_row: int = 2) -> tuple[int, int]:
    cols = min(n, per_row)
    return (n + cols - 1) // cols, cols


def _errorbar(ax, x, stat, color, marker, label=None, hollow=False, size=7):
    """One pooled point with its interval; nothing when the value is undefined."""
    if stat is None or stat["mean"] is None:
        return False
    mean = stat["mean"]
    yerr = None
    low, high = stat["ci_low"], stat["ci_high"]
    if low is not None and high is not None:
        # An unbounded side (±inf) gets a large triangle pointing that way, not a bar to infinity.
        yerr = [[max(mean - low, 0) if np.isfinite(low) else 0], [max(high - mean, 0) if np.isfinite(high) else 0]]
        for bound, arrow in ((low, "v"), (high, "^")):
            if not np.isfinite(bound):
                ax.plot([x], [mean], marker=arrow, color=color, markersize=size + 5, alpha=0.5)
    ax.errorbar([x], [mean], yerr=yerr, fmt=marker, color=color, ecolor=color, elinewidth=1.4, capsize=4,
                markersize=size, markerfacecolor="white" if hollow else color, markeredgewidth=1.5, label=label)
    return True


def _gap_axis(ax, data: ReportData, task: str, gaps: list[str], fig_width: float, extra: dict | None = None):
    """Gap names with their model pairs (and ``extra`` lines) as x tick labels, wrapped when narrow."""
    ax.set_xticks(range(len(gaps)))
    panel_width = fig_width / ax.get_subplotspec().get_gridspec().ncols
    narrow = panel_width / max(len(gaps), 1) < 2.4
    labels = []
    for gap in gaps:
        models = data.models_for(task, gap)
        if narrow:
            models = models.replace(" → ", " →\n")
        lines = [gap] + ([models] if models else []) + ([extra[gap]] if extra and gap in extra else [])
        labels.append("\n".join(lines))
    ax.set_xticklabels(labels, fontsize=8.5)
    ax.set_xlim(-0.6, len(gaps) - 0.4)
    ax.grid(axis="y", alpha=0.3)


def _offsets(n: int, width: float = 0.5) -> list[float]:
    return [0.0] if n == 1 else list(np.linspace(-width / 2, width / 2, n))


def _dedupe_legend(ax, ncol: int = 2):
    """One entry per label, under the panel: a legend inside it can hide a marker wherever the
    numbers happen to fall (an accuracy of 0.97 sat under the imitation plot's legend)."""
    handles, labels = ax.get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    if seen:
        # Constrained layout makes room below the panel's tick labels for it.
        ax.legend(seen.values(), seen.keys(), fontsize=8, ncol=min(ncol, len(seen)), loc="upper center",
                  bbox_to_anchor=(0.5, 0), bbox_transform=_below_ticks(ax), frameon=False)


def _below_ticks(ax):
    """Axes coordinates shifted down past the x tick labels (which hold the gap names and sizes)."""
    from matplotlib.transforms import ScaledTranslation

    fig = ax.get_figure()
    ticks = max((len(label.get_text().splitlines()) for label in ax.get_xticklabels()), default=1)
    return ax.transAxes + ScaledTranslation(0, -(0.25 + 0.16 * ticks), fig.dpi_scale_trans)


def accuracy_figure(data: ReportData) -> bytes:
    tasks, gaps, conditions = data.tasks(), data.gaps(), data.conditions()
    rows, cols = _grid(len(tasks))
    width = _width(len(gaps), cols)
    fig, axes = _figure(rows, cols, width)
    for ax, task in zip(axes.flat, tasks):
        series = [("weak", WEAK, "o", "weak_acc", conditions[0])]
        series += [(f"student ({data.condition_label(c)})" if len(conditions) > 1 else "student",
                    STUDENTS[i % len(STUDENTS)], "D", "student_acc", c) for i, c in enumerate(conditions)]
        series.append(("ceiling", CEILING, "^", "ceiling_acc", conditions[0]))
        # Runs whose strong model is a causal LM: its untrained answer, a reference level (not in PGR).
        if any(has_value(data.stat(task, gap, conditions[0], "zero_shot_acc")) for gap in gaps):
            series.append(("zero-shot", ZERO_SHOT, "s", "zero_shot_acc", conditions[0]))
        offsets = _offsets(len(series), 0.55)
        lows, gap_text = [], {}
        for g, gap in enumerate(gaps):
            weak = data.stat(task, gap, conditions[0], "weak_acc")
            ceiling = data.stat(task, gap, conditions[0], "ceiling_acc")
            if weak and ceiling and weak["mean"] is not None and ceiling["mean"] is not None:
                lo, hi = sorted((weak["mean"], ceiling["mean"]))
                ax.fill_between([g - 0.38, g + 0.38], lo, hi, color="#f1e3b0", alpha=0.7, zorder=0,
                                label="weak–ceiling gap")
                gap_text[gap] = f"gap {ceiling['mean'] - weak['mean']:+.3f}"
            for (label, color, marker, metric, condition), dx in zip(series, offsets):
                stat = data.stat(task, gap, condition, metric)
                if _errorbar(ax, g + dx, stat, color, marker, label):
                    low = stat["ci_low"]
                    lows.append(low if low is not None and np.isfinite(low) else stat["mean"])
        _gap_axis(ax, data, task, gaps, width, gap_text)
        ax.set_title(task, fontsize=11, loc="left", fontweight="bold")
        bottom = min([0.5] + lows)
        ax.set_ylim(max(0.0, bottom - 0.05), 1.02)
        ax.axhline(0.5, color="#bbbbbb", lw=0.8, ls=":")
        ax.set_ylabel("test accuracy")
        _dedupe_legend(ax)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    return _png(fig)


def pgr_figure(data: ReportData) -> bytes:
    tasks, gaps, conditions = data.tasks(), data.gaps(), data.conditions()
    rows, cols = _grid(len(tasks))
    width = _width(len(gaps), cols)
    fig, axes = _figure(rows, cols, width)
    for ax, task in zip(axes.flat, tasks):
        offsets = _offsets(len(conditions), 0.4)
        extremes = [0.0, 1.0]
        for c, (condition, dx) in enumerate(zip(conditions, offsets)):
            color = STUDENTS[c % len(STUDENTS)]
            label = f"PGR ({data.condition_label(condition)})" if len(conditions) > 1 else "PGR"
            for g, gap in enumerate(gaps):
                stat = data.stat(task, gap, condition, "pgr")
                if _errorbar(ax, g + dx, stat, color, "o", label):
                    extremes += [v for v in (stat["mean"], stat["ci_low"], stat["ci_high"])
                                 if v is not None and np.isfinite(v)]
                elif stat is not None:
                    ax.text(g + dx, 0.5, "PGR\nundefined\n(gap too small)", ha="center", va="center", fontsize=8,
                            color="#888888")
                seeds = data.cells(task, gap, condition)["pgr"].dropna()
                if len(seeds) > 1:
                    ax.scatter(np.full(len(seeds), g + dx + 0.07), seeds, s=12, color=color, alpha=0.45, zorder=3,
                               label="single seeds")
                    extremes += list(seeds)
        ax.axhline(0, color=WEAK, lw=1, ls="--")
        ax.axhline(1, color=CEILING, lw=1, ls="--")
        ax.text(1.0, 0, " weak", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=WEAK)
        ax.text(1.0, 1, " ceiling", transform=ax.get_yaxis_transform(), va="center", fontsize=8, color=CEILING)
        _gap_axis(ax, data, task, gaps, width)
        ax.set_title(task, fontsize=11, loc="left", fontweight="bold")
        low, high = max(min(extremes), -1.5), min(max(extremes), 2.5)
        ax.set_ylim(low - 0.1, high + 0.1)
        ax.set_ylabel("performance gap recovered")
        _dedupe_legend(ax)
    for ax in list(axes.flat)[len(tasks):]:
        ax.set_visible(False)
    return _png(fig)


def _region_figure(data: ReportData, conditions: list, left: tuple, right: tuple, chance_column: str | None,
                   chance_label: str, limits: tuple | None, null: str | None = None) -> bytes:
    """Per task two panels by gap: ``left`` = (metric on W_k ∩ S_k, metric on W_u ∩ S_k, title,
    y label), ``right`` = (one metric, title, y label), with the mean of ``chance_column`` as a
    dashed line beside it, or the pooled ``null`` metric (grey, with its interval) just left of it;
    hollow markers where a run has fewer than min_region examples."""
    tasks, gaps = data.tasks(), data.gaps()
    width = _width(len(gaps) + 1, 2)
    fig, axes = _figure(len(tasks), 2, width, row_height=3.6)
    min_region = data_min_region(data)
    known, unknown, left_title, left_label = left
    metric, right_title, right_label = right
    for (ax_left, ax_right), task in zip(axes, tasks):
        offsets = _offsets(len(conditions) * 2, 0.55)
        for c, condition in enumerate(conditions):
            suffix = f" ({data.condition_label(condition)})" if len(conditions) > 1 else ""
            marker = CONDITION_MARKERS[c % len(CONDITION_MARKERS)]
            for g, gap in enumerate(gaps):
                cell = data.cells(task, gap, condition)
                for k, (name, color, label) in enumerate(((known, KNOWN, "W_k ∩ S_k (weak can check)"),
                                                          (unknown, UNKNOWN, "W_u ∩ S_k (weak cannot)"))):
                    _errorbar(ax_left, g + offsets[2 * c + k], data.stat(task, gap, condition, name), color, marker,
                              label + suffix, hollow=_small(cell, name, min_region))
                dx = _offsets(len(conditions), 0.4)[c]
                if null:
                    _errorbar(ax_right, g + dx - 0.12, data.stat(task, gap, condition, null), WEAK, marker,
                              "placebo null (seed-like churn)", hollow=True, size=5)
                _errorbar(ax_right, g + dx, data.stat(task, gap, condition, metric), STUDENTS[c % len(STUDENTS)],
                          marker, metric.replace("_", " ") + suffix, hollow=_small(cell, metric, min_region))
                chance = cell[chance_column].dropna() if chance_column and chance_column in cell else []
                if len(chance):
                    ax_right.plot([g + dx - 0.15, g + dx + 0.15], [chance.mean()] * 2, color="#555555", lw=1.6,
                                  ls="--", zorder=1, label=chance_label)
        for ax, title, ylabel in ((ax_left, left_title, left_label), (ax_right, right_title, right_label)):
            _gap_axis(ax, data, task, gaps, width)
            ax.set_title(f"{task}: {title}", fontsize=10, loc="left")
            ax.set_ylabel(ylabel)
            if limits:
                ax.set_ylim(*limits)
            else:
                ax.axhline(0, color=WEAK, lw=0.8)
            _dedupe_legend(ax)
    return _png(fig)


def imitation_figure(data: ReportData) -> bytes:
    """The student's accuracy where the weak model can / cannot check it, and its imitation share."""
    return _region_figure(
        data, data.conditions(),
        ("acc_WkSk", "acc_WuSk", "student accuracy on S_k (the strong model is right)", "student accuracy"),
        ("imitation_share", "imitation share = P(W_u | S_k, student wrong)",
         "share of avoidable mistakes\nthe weak model makes too"),
        "imitation_share_chance", "chance: P(W_u | S_k)", (-0.02, 1.05))


def has_conflict(data: ReportData) -> bool:
    """Some finished condition has deception numbers (a conflict run with its baseline)."""
    return "deception" in data.done and data.done["deception"].notna().any()


def deception_figure(data: ReportData) -> bytes:
    """The conflict's tax relative to the no-conflict student where the weak model can / cannot
    check, and deception (their difference) beside its placebo null, for the conditions with a
    conflict."""
    conditions = [c for c in data.conditions() if any(
        has_value(data.stat(t, g, c, "deception")) for t in data.tasks() for g in data.gaps())]
    return _region_figure(
        data, conditions,
        ("tax_WkSk", "tax_WuSk", "conflict tax: P(C wrong | B0 right)", "share of B0's right answers lost"),
        ("deception", "deception = tax on W_u ∩ S_k − tax on W_k ∩ S_k", "extra relative loss where\nthe weak "
         "model cannot check"),
        None, "", None, null="deception_null")


# The columns of a sweep row with the sizes of the regions a number divides by (per run).
REGION_COLUMNS = {"acc_WkSk": ("n_WkSk",), "acc_WuSk": ("n_WuSk",), "imitation_share": ("n_Sk_wrong",),
                  "tax_WkSk": ("n_WkSk_B0",), "tax_WuSk": ("n_WuSk_B0",), "deception": ("n_WkSk_B0", "n_WuSk_B0")}


def _small(cell, metric: str, min_region: int) -> bool:
    """Hollow marker: some run of the cell has fewer than min_region examples behind the number."""
    return any(column in cell and bool((pd.to_numeric(cell[column], errors="coerce") < min_region).any())
               for column in REGION_COLUMNS[metric])


def data_min_region(data: ReportData) -> int:
    values = [d.get("min_region", 20) for d in data.deception.values()]
    return min(values) if values else 20


BASELINE_PANELS = (("student_acc", "student accuracy", (0.0, 1.0)), ("pgr", "PGR", None),
                   ("acc_WuSk", "accuracy on W_u ∩ S_k", (0.0, 1.0)),
                   ("imitation_share", "imitation share", (0.0, 1.0)))


def has_value(stat: dict | None) -> bool:
    return stat is not None and stat["mean"] is not None


def has_baseline(data: ReportData) -> bool:
    return "baseline_kind" in data.done and data.done["baseline_kind"].notna().any()


def baseline_figure(data: ReportData) -> bytes:
    """Per task, four panels: the student (filled) beside its baseline (hollow, grey) by gap, for
    every condition whose runs have one (a bootstrapped student vs the direct one, a conflict
    student vs the no-conflict one)."""
    tasks, gaps = data.tasks(), data.gaps()
    conditions = [c for c in data.conditions() if any(
        has_value(data.stat(t, g, c, "baseline_student_acc")) for t in tasks for g in gaps)]
    width = 10.0
    fig, axes = _figure(len(tasks), len(BASELINE_PANELS), width, row_height=3.4)
    kinds = sorted(set(data.done["baseline_kind"].dropna()))
    baseline_name = f"baseline ({' / '.join(kinds)})"
    for row, task in zip(axes, tasks):
        for ax, (metric, title, limits) in zip(row, BASELINE_PANELS):
            offsets = _offsets(len(conditions) * 2, 0.5)
            for c, condition in enumerate(conditions):
                suffix = f" ({data.condition_label(condition)})" if len(conditions) > 1 else ""
                marker = CONDITION_MARKERS[c % len(CONDITION_MARKERS)]
                for g, gap in enumerate(gaps):
                    _errorbar(ax, g + offsets[2 * c], data.stat(task, gap, condition, f"baseline_{metric}"), WEAK,
                              marker, baseline_name + suffix, hollow=True)
                    _errorbar(ax, g + offsets[2 * c + 1], data.stat(task, gap, condition, metric),
                              STUDENTS[c % len(STUDENTS)], marker, "student" + suffix)
            _gap_axis(ax, data, task, gaps, width)
            ax.tick_params(axis="x", labelsize=7)  # four panels a row: model names need the room
            ax.set_title(f"{task}: {title}", fontsize=9, loc="left")
            if limits:
                ax.set_ylim(limits[0] - 0.02, limits[1] + 0.05)
            else:
                ax.axhline(0, color=WEAK, lw=0.8)
                ax.axhline(1, color=CEILING, lw=0.8)
        _dedupe_legend(row[0])
    return _png(fig)
