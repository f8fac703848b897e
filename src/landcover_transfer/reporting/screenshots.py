"""Screenshots of the HTML report as a reader sees it, taken with headless Chromium (Debian: `chromium`).

The report is one page run by JavaScript: its results sit in a `results` object, and clicking a result's
eye icon calls `app.setView(...)`, which shows an HTML result (every table) inside the page and offers
anything else as a download. For each HTML result, a copy of the report gets a few lines of script that
make the same call once the page has loaded; Chromium then saves a screenshot and the page's DOM. The
first page (the workflow description) is captured as it opens.

    python -m landcover_transfer.reporting.screenshots results/report.html results/screenshots
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RESULTS = re.compile(r"var results = (\{.*?\});\s*</script>", re.S)

# The eye icon's action (snakemake/report/html_reporter/template/components/result_view_button.js).
_OPEN_RESULT = """<script>
window.addEventListener("load", () => setTimeout(() => {{
    const path = {path};
    app.setView({{navbarMode: "resultinfo", content: "html", contentPath: results[path].data_uri,
                  resultPath: path}});
}}, 200));
</script>
"""


@dataclass
class View:
    """One screenshot: what it shows, the PNG, and the page's DOM after the view opened."""

    name: str
    png: Path
    dom: str


def html_results(report: str) -> dict[str, dict]:
    """The report's HTML results (path -> entry with labels, data_uri, ...)."""
    match = _RESULTS.search(report)
    if match is None:
        raise ValueError("no `var results = {...}` in the report: not a Snakemake HTML report?")
    return {path: entry for path, entry in json.loads(match[1]).items() if entry["mime_type"] == "text/html"}


def find_chromium() -> str | None:
    return next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)


def capture(browser: str, page: Path, png: Path, seconds: float = 60, tries: int = 2) -> str:
    """Screenshot of `page` to `png`; returns the DOM as it was then. The page's scripts get 3 s of
    virtual time (the view opens after load); `--timeout` ends a page that would never settle.

    Headless Chromium still hangs now and then under load, past its own --timeout (once in four full test runs
    here, on one of 10 pages): a try that outlasts `seconds` is killed with its child processes and run again."""
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--window-size=1920,1080", "--virtual-time-budget=3000", "--timeout=20000",
               f"--screenshot={png}", "--dump-dom", page.as_uri()]
    for _ in range(tries):
        browser_run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       start_new_session=True)  # its own process group: renderers die with it
        try:
            dom, errors = browser_run.communicate(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(browser_run.pid, signal.SIGKILL)
            browser_run.communicate()
            continue
        if browser_run.returncode:
            raise subprocess.CalledProcessError(browser_run.returncode, command, dom, errors)
        return dom
    raise TimeoutError(f"{browser} did not finish a screenshot of {page.name} in {tries} tries of {seconds:.0f} s")


def screenshot_report(report_path: str | Path, outdir: str | Path, browser: str | None = None) -> list[View]:
    """The first page and every HTML result of the report, as PNGs in `outdir` (named after the result)."""
    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    report_path, outdir = Path(report_path).resolve(), Path(outdir).resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    report = report_path.read_text()
    views = [View("first page", outdir / "first_page.png", capture(browser, report_path, outdir / "first_page.png"))]
    for path in html_results(report):
        name = Path(path).stem
        page = outdir / f".{name}.html"
        head, body_end, tail = report.rpartition("</body>")  # the last one: bundled scripts contain the string too
        page.write_text(head + _OPEN_RESULT.format(path=json.dumps(path)) + body_end + tail)
        try:
            views.append(View(path, outdir / f"{name}.png", capture(browser, page, outdir / f"{name}.png")))
        finally:
            page.unlink()
    return views


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="the report, e.g. results/report.html")
    parser.add_argument("outdir", help="folder for the PNGs, e.g. results/screenshots")
    args = parser.parse_args(argv)
    for view in screenshot_report(args.report, args.outdir):
        print(f"{view.png}: {view.name}")


if __name__ == "__main__":
    sys.exit(main())
