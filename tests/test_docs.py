"""The docs: the MkDocs site builds with warnings as errors (a broken link or anchor, or a page left
out of the nav, fails), and the README stays a short front page whose relative links all resolve."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
MAX_README_LINES = 150


def mkdocs_build(config: Path, site_dir: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # the theme's banner is not a build warning
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config), "--site-dir", str(site_dir)],
        capture_output=True, text=True, env=env, timeout=300, cwd=config.parent,  # snippets' base path
    )


def test_the_docs_build_with_warnings_as_errors(tmp_path):
    result = mkdocs_build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    built = {p.relative_to(tmp_path / "site").parts[0] for p in (tmp_path / "site").iterdir()}
    for page in (REPO / "docs").glob("*.md"):
        assert page.stem == "index" or page.stem in built, f"docs/{page.name} was not built"


def test_a_broken_link_fails_the_build(tmp_path):
    copy_site(tmp_path)
    page = tmp_path / "docs" / "errors.md"
    page.write_text(page.read_text() + "\n[gone](no-such-page.md) and [here](concepts.md#no-such-anchor)\n")
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr and "no-such-anchor" in result.stderr


def copy_site(folder: Path):
    shutil.copy(REPO / "mkdocs.yml", folder / "mkdocs.yml")
    shutil.copytree(REPO / "docs", folder / "docs")
    shutil.copytree(REPO / "benchmarks" / "results", folder / "benchmarks" / "results")


def test_a_missing_results_table_fails_the_build(tmp_path):
    """Results tables are benchmark output files included by the pages: one that is not there
    fails the build instead of leaving a hole."""
    copy_site(tmp_path)
    page = tmp_path / "docs" / "errors.md"
    page.write_text(page.read_text() + '\n--8<-- "benchmarks/results/no_such_table.md"\n')
    result = mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0 and "no_such_table.md" in result.stdout + result.stderr


def test_every_published_table_is_in_the_docs_with_its_command_and_cpu():
    included = set(re.findall(r'--8<-- "benchmarks/results/([^"]+)"', "".join(
        p.read_text() for p in (REPO / "docs").glob("*.md"))))
    published = {p.name for p in (REPO / "benchmarks" / "results").glob("*.md")}
    assert published and published == included
    for name in published:
        head = (REPO / "benchmarks" / "results" / name).read_text().splitlines()[0]
        assert re.match(r"`python benchmarks/\w+\.py[^`]*` — .+; bf16 units: .+; \d{4}-\d\d-\d\d\.$", head), head


def test_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_readme_relative_links_point_to_files():
    text = README.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not re.match(r"[a-z][a-z0-9+.-]*:", link) and not link.startswith("#")]
    assert relative, "the README links into docs/"
    missing = [link for link in relative if not (REPO / link.split("#")[0]).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def test_the_readme_keeps_its_two_commands():
    # .ci/run runs the README's test command; the install-and-run command is the README's first one.
    text = README.read_text()
    assert '```bash\npython3 -m venv .venv && . .venv/bin/activate && pip install -e ".[dev]" && w2s-eval run --task toxicity --gap large\n```' in text
    assert "```bash\npytest\n```" in text
