"""Reports of a real (tiny) run and a tiny sweep: files, inlined plots, sections, no external
resources, escaped texts."""

import re

import pytest

from w2s_eval.config import load_config
from w2s_eval.errors import UserError
from w2s_eval.protocol import run_experiment
from w2s_eval.reports import SECTIONS, build_report
from w2s_eval.reports.document import Document, Paragraph, Table, to_html, to_markdown
from w2s_eval.sweeps import SweepGrid, run_sweep

TINY = ["splits.max_per_split={A: 48, B: 48, val: 16, test: 48}", "eval.n_bootstrap=100", "threads=1"]
FIGURES = ("accuracy", "pgr", "imitation")  # "deception" too, for runs with a conflict


def tiny_config():
    return load_config(None, TINY, {"task": "toxicity", "weak_model": "tfidf", "strong_model": "tfidf"})


def check_report(folder, md_path, html_path, extra_sections=()):
    assert md_path == folder / "report.md" and html_path == folder / "report.html"
    html, md = html_path.read_text(), md_path.read_text()
    assert html.count('src="data:image/png;base64,') == len(FIGURES)
    for name in FIGURES:
        assert (folder / f"report-{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(report-{name}.png)" in md
    for heading in SECTIONS + tuple(extra_sections):
        assert f">{heading}</h2>" in html, heading
        assert f"## {heading}\n" in md, heading
    # self-contained: nothing fetched from elsewhere, no scripts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I)
    assert 'src="http' not in html and "<script" not in html.lower() and "<link" not in html.lower()
    # the summary is made of numbers, not placeholders
    summary = re.search(r'<p class="summary">(.*?)</p>', html, re.S).group(1)
    assert "%" in summary and not re.search(r"\{|\}|None|nan|NaN", summary)
    return html, md


@pytest.mark.slow
def test_report_of_a_real_run(tmp_path):
    run_dir = run_experiment(tiny_config(), tmp_path, quiet=True)
    html, md = check_report(run_dir, *build_report(run_dir), extra_sections=("Setup",))
    assert run_dir.name in html and "2×2×2" in html
    assert (run_dir / "deception.json").exists()  # the report writes the deception numbers it shows
    # the text table of missed examples comes from the task data (or says there are none)
    assert "W_u ∩ S_k" in html and ("toxigen-" in html or "None: the student makes no such mistake" in html)
    with pytest.raises(UserError, match="neither a run folder"):
        build_report(tmp_path)


@pytest.mark.slow
def test_report_of_a_sweep(tmp_path):
    out = run_sweep(SweepGrid(tasks=["toxicity"], seeds=[0, 1]), tmp_path / "sweep", tiny_config(), quiet=True)
    html, md = check_report(out, *build_report(out), extra_sections=("Cells",))
    assert html.count("<td>done</td>") == 2
    assert "Intervals" in html  # the definitions say how intervals are made


def test_html_escapes_texts_and_markdown_keeps_tables_intact():
    doc = Document("a <b> title", blocks=[
        Paragraph("x < y & <script>alert(1)</script>", "summary"),
        Table(["id", "text"], [["1", 'a | b\nc <img src="http://evil/x.png">']], wide={1})])
    html = to_html(doc)
    assert "<script>alert" not in html and "&lt;script&gt;" in html and "&lt;b&gt;" in html
    assert '<img src="http' not in html
    md = to_markdown(doc)
    row = [line for line in md.splitlines() if line.startswith("| 1 |")][0]
    assert "a \\| b c" in row  # the pipe is escaped and the newline is gone: one table row
    # A data file's name or an example's text is shown as text in Markdown too: no live HTML, no links.
    linked = to_markdown(Document("custom:<img src=x onerror=alert(1)>.csv", blocks=[
        Paragraph("see [here](javascript:alert(1)) & <script>x</script>")]))
    assert "\\<img" in linked and not re.search(r"(?<!\\)<(img|script)", linked)  # every < escaped
    assert not re.search(r"(?<!\\)\]\(javascript", linked)  # no live link
    assert "\\<script\\>" in linked and "\\[here\\]" in linked


@pytest.mark.slow
def test_report_of_a_conflict_sweep_shows_deception(tmp_path):
    """A conflict sweep on the linear judges (utility pairs, bag-of-words weak and strong): the
    report has the deception figure and table, pooled over seeds, beside the imitation numbers."""
    from w2s_eval.sweeps import aggregate, read_sweep

    cfg = load_config(None, TINY, {"task": "utility", "weak_model": "tfidf", "strong_model": "tfidf"})
    out = run_sweep(SweepGrid(tasks=["utility"], conflicts=["none", "implicit"], seeds=[0, 1]), tmp_path / "sweep",
                    cfg, quiet=True)
    rows = read_sweep(out)
    conflicted = rows[rows["conflict"] == "implicit"]
    assert conflicted["deception"].notna().all() and rows[rows["conflict"] == "none"]["deception"].isna().all()
    pooled = aggregate(rows).set_index(["conflict", "metric"])
    deception = pooled.loc[("implicit", "deception")]
    assert deception["n"] == 2 and deception["ci_low"] <= deception["mean"] <= deception["ci_high"]
    assert "hierarchical" in deception["ci_method"]
    md, html = build_report(out)
    html = html.read_text()
    assert html.count('src="data:image/png;base64,') == len(FIGURES) + 2  # + deception and the baseline figure
    assert (out / "report-deception.png").exists() and "tax | W_u∩S_k" in html
    # deception is shown beside its placebo null, with a verdict against it (not against zero)
    assert "placebo null" in html and re.search(r"(above|inside|below) the null", html)
    null = pooled.loc[("implicit", "deception_null")]
    assert null["n"] == 2 and "hierarchical" in null["ci_method"]


def test_no_legend_covers_a_panel(tmp_path, monkeypatch):
    """Every figure's legends sit below their panels and their tick labels, so no marker is hidden
    however the numbers fall (the imitation plot's legend once covered an accuracy of 0.97)."""
    from w2s_eval.reports import plots
    from w2s_eval.reports.collect import collect

    run_dir = run_experiment(tiny_config(), tmp_path, quiet=True)
    figures = []
    monkeypatch.setattr(plots, "_png", lambda fig: figures.append(fig) or b"")
    data = collect(run_dir)
    for draw in (plots.accuracy_figure, plots.pgr_figure, plots.imitation_figure):
        draw(data)
    legends = 0
    for fig in figures:
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        canvas = FigureCanvasAgg(fig)
        canvas.draw()  # the constrained layout places everything
        renderer = canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None or not ax.get_visible():
                continue
            legends += 1
            box = legend.get_window_extent(renderer)
            ticks = [label.get_window_extent(renderer) for label in ax.get_xticklabels() if label.get_text()]
            assert box.y1 <= ax.get_window_extent(renderer).y0
            assert all(box.y1 <= tick.y0 + 1 for tick in ticks)
            assert box.y0 >= 0  # inside the figure
    assert legends >= 3
