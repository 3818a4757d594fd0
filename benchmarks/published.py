"""Results tables for the docs, written by the benchmark that measured them.

A benchmark run with ``--publish`` writes its table to ``benchmarks/results/<name>.md``: the
command as it was typed, the CPU (model name and bfloat16 units) and the date, then the table
exactly as the command printed it. Docs pages include the file (``--8<-- "benchmarks/results/<name>.md"``,
pymdownx.snippets; a missing file fails ``mkdocs build --strict``), so a results table in the docs is
always the output of a named command, never a number typed by hand.
"""

from __future__ import annotations

import datetime
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def publish(name: str, table: str, cpu: str) -> Path:
    """Write ``table`` as the published result ``name``, headed by the command that made it."""
    command = "python " + " ".join(shlex.quote(arg) for arg in [Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    command = command.replace(str(Path.cwd()) + "/", "")
    today = datetime.date.today().isoformat()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(f"`{command}` — {cpu}; {today}.\n\n{table.strip()}\n")
    return path
