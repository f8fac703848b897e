"""Pages for the HTML report (snakemake --report shows an HTML result inside the page; other files are
downloads): a common page layout and the effective configuration."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Sequence

import yaml

from landcover_transfer.workflow.atomic_files import atomic_path

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; margin: 0.8em; }}
table {{ border-collapse: collapse; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 2px 6px; vertical-align: top; }}
th {{ background: #f0f0f0; text-align: left; }}
td.number {{ text-align: right; font-variant-numeric: tabular-nums; }}
pre {{ background: #f7f7f7; padding: 0.8em; }}
</style></head>
<body><h3>{title}</h3>
{body}
</body></html>
"""


def titled(title: str, note: str = "") -> str:
    """`title (note)`, e.g. a table or plot of synthetic demo data says so in its title."""
    return f"{title} ({note})" if note else title


def html_page(title: str, body: str) -> str:
    """A self-contained HTML page: `title` (escaped here) over `body` (HTML)."""
    return _PAGE.format(title=html.escape(title), body=body)


def write_effective_config(config: dict, sources: Sequence[str], yaml_path: str | os.PathLike,
                           html_path: str | os.PathLike) -> None:
    """The configuration the jobs got, as YAML (download) and as an HTML page listing its source files."""
    from landcover_transfer.workflow.jobs import data_note

    text = yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
    header = "".join(f"# from {source}\n" for source in sources)
    with atomic_path(yaml_path) as tmp:
        Path(tmp).write_text(header + text)
    files = "".join(f"<li><code>{html.escape(source)}</code></li>" for source in sources)
    body = (f"<p>config/config.yaml overlaid key by key with the <code>--configfile</code> files and "
            f"<code>--config</code> values (they win). Files read:</p><ul>{files}</ul>"
            f"<pre>{html.escape(text)}</pre>")
    with atomic_path(html_path) as tmp:
        Path(tmp).write_text(html_page(titled("Effective configuration", data_note(config)), body))
