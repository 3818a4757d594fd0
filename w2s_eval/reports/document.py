"""A report as a list of blocks, rendered to Markdown (PNG files beside it) and to one
self-contained HTML file (PNGs inlined as base64 data URIs, inline CSS, no scripts)."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str
    css: str = ""  # an extra class in HTML: "summary", "note", "warning"


@dataclass
class Bullets:
    items: list[str]
    css: str = ""


@dataclass
class Figure:
    name: str  # file stem of the PNG beside report.md
    png: bytes
    alt: str
    caption: str = ""


@dataclass
class Table:
    columns: list[str]
    rows: list[list]
    numeric: set[int] = field(default_factory=set)  # column indexes aligned right
    wide: set[int] = field(default_factory=set)  # column indexes that hold long text
    mono: set[int] = field(default_factory=set)  # column indexes of identifiers (monospace, no wrap)
    caption: str = ""


@dataclass
class Document:
    title: str
    subtitle: str = ""
    blocks: list = field(default_factory=list)

    def add(self, *blocks):
        self.blocks.extend(blocks)
        return self

    def write(self, folder: Path, stem: str = "report") -> tuple[Path, Path]:
        from ..store import atomic_write_text

        folder = Path(folder)
        for block in self.blocks:
            if isinstance(block, Figure):
                path = folder / f"{stem}-{block.name}.png"
                tmp = path.with_name(f".{path.name}.tmp")
                tmp.write_bytes(block.png)
                tmp.replace(path)
        md_path, html_path = folder / f"{stem}.md", folder / f"{stem}.html"
        atomic_write_text(md_path, to_markdown(self, stem))
        atomic_write_text(html_path, to_html(self))
        return md_path, html_path


# -- Markdown ------------------------------------------------------------------------------------

# Blocks hold plain text, as the HTML shows it; some of it comes from the user (a data file's name,
# example texts). In Markdown, raw HTML and link syntax in it would be live: they are escaped.
MD_ACTIVE = str.maketrans({c: "\\" + c for c in "\\<>&[]"})


def _md(text) -> str:
    """``text`` inert in Markdown: raw HTML and links escaped, and on one line (a newline in a file's
    name would otherwise start a heading or a list of the user's making)."""
    return " ".join(("" if text is None else str(text)).translate(MD_ACTIVE).splitlines())


def _md_cell(value) -> str:
    return _md(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def to_markdown(doc: Document, stem: str = "report") -> str:
    out = [f"# {_md(doc.title)}", ""]
    if doc.subtitle:
        out += [f"_{_md(doc.subtitle)}_", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += ["#" * block.level + " " + _md(block.text), ""]
        elif isinstance(block, Paragraph):
            text = f"> {_md(block.text)}" if block.css in ("summary", "warning") else _md(block.text)
            out += [text, ""]
        elif isinstance(block, Bullets):
            out += [f"- {_md(item)}" for item in block.items] + [""]
        elif isinstance(block, Figure):
            out += [f"![{_md(block.alt)}]({stem}-{block.name}.png)", ""]
            if block.caption:
                out += [f"_{_md(block.caption)}_", ""]
        elif isinstance(block, Table):
            if block.caption:
                out += [_md(block.caption), ""]
            out.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
            out.append("|" + "|".join("---:" if i in block.numeric else "---" for i in range(len(block.columns))) + "|")
            out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in block.rows]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


# -- HTML ----------------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #1f2328;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.5; }
h1 { font-size: 1.7em; margin-bottom: 0.1em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-top: 1.2em; }
.subtitle { color: #59636e; margin-top: 0; font-size: 0.95em; overflow-wrap: anywhere; }
p.summary { background: #f0f6ff; border-left: 4px solid #2f6fce; padding: 0.8em 1em; font-size: 1.05em; }
p.warning, ul.warning { background: #fff8e6; border-left: 4px solid #d4a017; padding: 0.6em 1em; }
ul.warning { padding-left: 2.2em; }
p.note { color: #59636e; font-size: 0.9em; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption { color: #59636e; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.88em; }
p.note + div.scroll table { margin-top: -0.4em; }
td.mono { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; white-space: nowrap; }
th, td { border: 1px solid #d0d7de; padding: 0.3em 0.6em; vertical-align: top; }
th { background: #f6f8fa; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
div.scroll { overflow-x: auto; }
td.text { min-width: 24em; max-width: 48em; overflow-wrap: anywhere; }
tr:nth-child(even) td { background: #fbfcfd; }
code { background: #f6f8fa; padding: 0.1em 0.3em; border-radius: 3px; }
"""


def to_html(doc: Document) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(doc.title)}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
           f"<h1>{e(doc.title)}</h1>"]
    if doc.subtitle:
        out.append(f'<p class="subtitle">{e(doc.subtitle)}</p>')
    for block in doc.blocks:
        if isinstance(block, Heading):
            out.append(f"<h{block.level}>{e(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            css = f' class="{block.css}"' if block.css else ""
            out.append(f"<p{css}>{e(block.text)}</p>")
        elif isinstance(block, Bullets):
            css = f' class="{block.css}"' if block.css else ""
            out.append(f"<ul{css}>" + "".join(f"<li>{e(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode("ascii")
            caption = f"<figcaption>{e(block.caption)}</figcaption>" if block.caption else ""
            out.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(block.alt)}">{caption}</figure>')
        elif isinstance(block, Table):
            if block.caption:
                out.append(f'<p class="note">{e(block.caption)}</p>')
            out.append('<div class="scroll"><table>')
            out.append("<thead><tr>" + "".join(f"<th>{e(str(c))}</th>" for c in block.columns) + "</tr></thead><tbody>")
            for row in block.rows:
                cells = []
                for i, value in enumerate(row):
                    css = (' class="num"' if i in block.numeric else ' class="text"' if i in block.wide
                           else ' class="mono"' if i in block.mono else "")
                    cells.append(f"<td{css}>{e('' if value is None else str(value))}</td>")
                out.append("<tr>" + "".join(cells) + "</tr>")
            out.append("</tbody></table></div>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
