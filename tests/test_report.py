"""The HTML report of the tiny run as a reader sees it: every table in the page, every item in a named
view with one consistent set of labels, the synthetic-data notice and the configuration; screenshots
with headless Chromium (skipped without it; .ci/run installs it)."""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path
from urllib.parse import unquote

import pytest

from landcover_transfer.reporting.screenshots import capture, find_chromium, html_results, screenshot_report

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"
PREDICT_CONFIG = REPO / "tests" / "config" / "predict.yaml"  # the tiny run's scene (conftest.py)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TABLES_SHOWN = ("classical", "finetune", "ensemble", "leaderboard", "comparisons", "robustness", "transfer",
                "adversarial_training", "usage", "usage_by_rule")
SHOWN_IN_PAGE = {f"results/tables/{t}.html" for t in TABLES_SHOWN} | {"results/config/effective_config.html",
                                                                     "results/config/provenance.html"}


@pytest.fixture(scope="module")
def tiny_report(tiny_run, tmp_path_factory, run_snakemake) -> Path:
    """The report of a copy of the tiny run (the shared run stays untouched)."""
    work = tmp_path_factory.mktemp("report") / "work"
    shutil.copytree(tiny_run, work, symlinks=True)
    result = run_snakemake(work, "--report", "report.html", "--configfile", TINY_CONFIG, PREDICT_CONFIG, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return work / "report.html"


def _script_json(report: str, name: str) -> dict:
    return json.loads(re.search(rf"var {name} = (\{{.*?\}});\s*</script>", report, re.S)[1])


@pytest.mark.slow
def test_report_items_sit_in_named_views_with_one_set_of_labels_each(tiny_report):
    report = tiny_report.read_text()
    results, categories = _script_json(report, "results"), _script_json(report, "categories")
    assert set(html_results(report)) == SHOWN_IN_PAGE
    label_keys = defaultdict(set)
    for category, subcategories in categories.items():
        assert "Other" not in subcategories, category
        for subcategory, paths in subcategories.items():
            for path in paths:
                label_keys[category, subcategory].add(tuple(sorted(results[path]["labels"])))
    assert {view: keys for view, keys in label_keys.items() if len(keys) != 1} == {}  # no sparse columns
    assert {"Tables", "Confusion matrices"} <= set(categories["Classical"])
    assert set(categories["Summary"]) == {"Tables", "Figures", "Configuration"}
    assert set(categories["Robustness"]) == {"Tables", "Figures", "Adversarial examples"}
    assert set(categories["Cost"]) == {"Tables", "Figures"}


@pytest.mark.slow
def test_report_first_page_says_synthetic_demo_data(tiny_report):
    description = json.loads(re.search(r"var workflow_desc = (\".*?\");\s*</script>", tiny_report.read_text(),
                                       re.S)[1])
    assert "Synthetic demo data." in description


@pytest.mark.slow
def test_report_first_page_shows_the_provenance_of_every_result(tiny_report):
    description = json.loads(re.search(r"var workflow_desc = (\".*?\");\s*</script>", tiny_report.read_text(),
                                       re.S)[1])
    frame = re.search(r'<iframe title="provenance of every result"[^>]*src="data:text/html;charset=utf-8,([^"]+)"',
                      description)
    assert frame, description[-2000:]
    shown = unquote(frame[1].replace("\n", ""))  # browsers drop line breaks in an address (URL standard)
    assert shown == (tiny_report.parent / "results/config/provenance.html").read_text()
    assert "Git Commit" in shown and "tensorflow" in shown


@pytest.mark.slow
def test_screenshots_show_every_table_inside_the_page(tiny_report, tmp_path):
    if find_chromium() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    views = screenshot_report(tiny_report, tmp_path / "shots")
    assert [view.name for view in views[1:]] == sorted(SHOWN_IN_PAGE, key=list(html_results(
        tiny_report.read_text())).index)
    assert "Synthetic demo data" in views[0].dom
    for view in views:
        data = view.png.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 20_000, view.name  # a rendered page, not a blank one
    for view in views[1:]:
        frame = re.search(r'<iframe src="data:text/html[^"]*?;base64,([^"]+)"', view.dom)
        assert frame, f"{view.name} is not shown in the page"
        assert base64.b64decode(frame[1]).decode() == (tiny_report.parent / view.name).read_text()


FAKE_BROWSER = """#!/bin/sh
# A browser that hangs on its first call (a child process keeps running, as Chromium's renderers do), then works.
tries="$(dirname "$0")/tries"
echo x >> "$tries"
if [ "$(wc -l < "$tries")" -eq 1 ]; then
    sleep 300 & echo $! > "$(dirname "$0")/child"
    wait
fi
for arg; do case "$arg" in --screenshot=*) touch "${arg#--screenshot=}";; esac; done
echo "<html>the page</html>"
"""


def test_a_browser_that_hangs_is_killed_with_its_children_and_tried_again(tmp_path):
    browser = tmp_path / "browser"
    browser.write_text(FAKE_BROWSER)
    browser.chmod(0o755)
    page = tmp_path / "page.html"
    page.write_text("<html></html>")
    dom = capture(str(browser), page, tmp_path / "page.png", seconds=2)
    assert dom.strip() == "<html>the page</html>" and (tmp_path / "page.png").exists()
    assert (tmp_path / "tries").read_text().count("x") == 2
    child = int((tmp_path / "child").read_text())
    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]


def test_a_browser_that_always_hangs_ends_with_one_clear_error(tmp_path):
    browser = tmp_path / "browser"
    browser.write_text("#!/bin/sh\nsleep 300\n")
    browser.chmod(0o755)
    with pytest.raises(TimeoutError, match="did not finish a screenshot of page.html in 2 tries of 1 s"):
        capture(str(browser), tmp_path / "page.html", tmp_path / "page.png", seconds=1)
