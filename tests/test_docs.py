"""The README and the pages of docs/ against what the project generates and holds, so that none can go stale:
the README's length and sections, every relative link, every accuracy and rate they quote (from docs/recipe.md and
docs/benchmarks.md, both generated), the counts and rule names they give (from the config and the rules), the
layout of docs/development.md, and the config sections of docs/configuration.md. Their commands are tested in
tests/test_command_line.py. Reads files only: no workflow runs.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
DOCS = {f"docs/{page.name}": page.read_text() for page in sorted((REPO / "docs").glob("*.md"))}
PAGES = {"README.md": README, **DOCS}
# Written by `make recipe` and `make bench`: the sources of the numbers, not pages written by hand.
GENERATED = ("docs/recipe.md", "docs/benchmarks.md")
WRITTEN = {path: text for path, text in PAGES.items() if path not in GENERATED}
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())

# The issue's order: what it is, the two commands, SLURM, real data, what comes out, where to change things, testing.
README_SECTIONS = [
    "The two commands",
    "Running on a SLURM cluster",
    "Running on the real EuroSAT data",
    "What comes out",
    "Where to change things",
    "Testing",
]


def markdown_tables(text: str) -> list[list[dict[str, str]]]:
    """Every Markdown table of a page, as rows of {header: cell}."""
    tables = []
    for block in re.findall(r"(?:^\|.*\|\n)+", text + "\n", re.M):
        lines = block.strip().splitlines()
        cells = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in lines]
        tables.append([dict(zip(cells[0], row, strict=True)) for row in cells[2:]])
    return tables


def section(text: str, title: str) -> str:
    """The text under a heading (any level), up to the next heading of that level or above."""
    match = re.search(rf"^(#+) {re.escape(title)}\n", text, re.M)
    assert match, f"no section {title!r}"
    body = text[match.end():]
    end = re.search(rf"^#{{1,{len(match[1])}}} ", body, re.M)
    return body[:end.start()] if end else body


def github_anchor(heading: str) -> str:
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


# --- the README's shape ---------------------------------------------------------------------------------------


def test_the_readme_is_at_most_250_lines_with_its_sections_in_the_issues_order():
    assert len(README.splitlines()) <= 250
    assert re.findall(r"^## (.+)$", README, re.M) == README_SECTIONS
    assert README.startswith("# landcover-transfer\n")


def test_the_readme_says_which_config_a_user_with_the_eurosat_release_runs():
    real_data = section(README, "Running on the real EuroSAT data")
    assert "Run `config/eurosat.yaml`, not `data.source: eurosat` alone." in real_data
    assert yaml.safe_load((REPO / "config" / "eurosat.yaml").read_text())["data"]["source"] == "eurosat"
    # the recipe config is the one `make recipe` measures on real images
    assert "--configfile $(CURDIR)/config/eurosat.yaml" in (REPO / "Makefile").read_text()


# --- links ------------------------------------------------------------------------------------------------------


def relative_links(text: str) -> list[str]:
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", prose)
    return [link for link in links if not re.match(r"[a-z]+:", link)]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_relative_link_points_to_a_file_and_heading_that_exist(page):
    for link in relative_links(PAGES[page]):
        path, _, anchor = link.partition("#")
        target = (REPO / page).parent / path if path else REPO / page
        assert target.exists(), f"{page}: link to {link}: no such file"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.M)
            assert anchor in {github_anchor(h) for h in headings}, f"{page}: link to {link}: no such heading"


def test_the_readme_links_every_page_of_docs_it_moved_material_to():
    for page in ("docs/study.md", "docs/robustness-method.md", "docs/cluster.md", "docs/configuration.md",
                 "docs/development.md", "docs/recipe.md", "docs/benchmarks.md"):
        assert f"]({page}" in README, page


# --- numbers: from the generated pages ----------------------------------------------------------------------------


def recipe_tables() -> tuple[list[dict], list[dict], list[dict]]:
    """docs/recipe.md's ablation, ensembles and classical models."""
    tables = markdown_tables(DOCS["docs/recipe.md"])
    ablation = next(t for t in tables if "Accuracy (mean)" in t[0])
    ensembles = next(t for t in tables if "Method" in t[0])
    classical = next(t for t in tables if "Model" in t[0] and "Fit Time (s)" in t[0])
    return ablation, ensembles, classical


def percent(fraction: str) -> str:
    return f"{100 * float(fraction):.1f}"


def quoted_accuracies(text: str) -> list[tuple[str, str | None]]:
    """Every accuracy quoted with one decimal, `91.3%` or `91.3 ± 0.2%`, as (value, spread or None)."""
    return re.findall(r"(?<![\d.])(\d+\.\d+)(?: ± (\d+\.\d+))?%", text)


def test_every_accuracy_the_readme_and_docs_quote_is_one_of_docs_recipe_md():
    ablation, ensembles, classical = recipe_tables()
    pairs = {(row["Accuracy (mean)"], row["Accuracy (std)"]) for row in ablation}
    singles = ({row["Accuracy (mean)"] for row in ablation}
               | {percent(row[column]) for row in ensembles for column in ("Accuracy", "Best Member Accuracy")}
               | {percent(row["Accuracy"]) for row in classical})
    found = 0
    for page, text in WRITTEN.items():
        for value, spread in quoted_accuracies(text):
            found += 1
            if spread:
                assert (value, spread) in pairs, f"{page}: {value} ± {spread}% is no row of docs/recipe.md"
            else:
                assert value in singles, f"{page}: {value}% is not in docs/recipe.md"
    assert found > 20  # the recipe's story in docs/study.md


def test_the_readme_quotes_the_study_settings_and_the_recipe_rows():
    ablation, _, _ = recipe_tables()
    study = next(row for row in ablation if row["Step"].startswith("the study's settings"))
    recipe = next(row for row in ablation if row["Step"].endswith(": the recipe"))
    assert recipe["Variant"].split("/")[1] == "recipe_whole_base"
    as_quoted = [f"{row['Accuracy (mean)']} ± {row['Accuracy (std)']}%" for row in (recipe, study, study, recipe)]
    assert re.findall(r"\d+\.\d ± \d+\.\d%", README) == as_quoted


def test_the_ensembles_and_classical_models_docs_study_md_quotes():
    _, ensembles, classical = recipe_tables()
    method = {row["Method"]: percent(row["Accuracy"]) for row in ensembles}
    best = {percent(row["Best Member Accuracy"]) for row in ensembles}
    model = {row["Model"]: percent(row["Accuracy"]) for row in classical}
    text = " ".join(DOCS["docs/study.md"].split())
    assert (f"the soft vote reached {method['soft_vote']}%, equal to the best seed ({best.pop()}%), stacking "
            f"{method['stacking']}%, and the majority and weighted votes {method['majority_vote']}%") in text
    assert method["majority_vote"] == method["weighted_vote"] and not best
    lowest, highest = min(model.values(), key=float), max(model.values(), key=float)
    assert f"reached {lowest}% (random forest) to {highest}% (linear SVM)" in text
    assert model["random_forest"] == lowest and model["svm"] == highest


def test_the_training_rates_the_readme_quotes_are_those_of_docs_benchmarks_md():
    benchmarks = DOCS["docs/benchmarks.md"]
    training = next(t for t in markdown_tables(section(benchmarks, "3. Training and feature extraction")))
    text = " ".join(README.split())
    for arch, name in (("vgg16", "VGG16"), ("resnet50", "ResNet50"), ("mobilenet_v2", "MobileNetV2")):
        rates = [float(row["images_per_s"].replace(",", "")) for row in training
                 if row["architecture"] == arch and row["what"].startswith("train")]
        assert re.search(rf"{round(min(rates))}–{round(max(rates))}( images/s)? for {name}\b", text), name
    machine = re.search(r"Measured on (.+?) \((\d+) cores\).*? on (\d{4}-\d\d-\d\d)", benchmarks)
    assert f"idle {machine[2]}-core CPU ({machine[1]}, {machine[3]};" in text


def test_the_counts_the_readme_and_config_give_are_the_configs():
    grid = CONFIG["finetune"]
    trainings = len(grid["architectures"]) * len(grid["strategies"]) * len(grid["augmentations"])
    text = " ".join(README.split())
    assert f"The study's grid is {trainings} trainings of up to {CONFIG['training']['epochs']} epochs." in text
    first_line = (REPO / "config" / "config.yaml").read_text().splitlines()[0]
    assert f"its {trainings} trainings" in first_line and "docs/benchmarks.md" in first_line


# --- names: from the rules and the config -------------------------------------------------------------------------


def rule_blocks() -> dict[str, tuple[str, str]]:
    """Every rule of rules/*.smk: name -> (stage, body)."""
    blocks = {}
    for smk in sorted((REPO / "rules").glob("*.smk")):
        for name, body in re.findall(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", smk.read_text(), re.M | re.S):
            blocks[name] = (smk.stem, body)
    return blocks


@pytest.mark.parametrize("page", ["README.md", "docs/cluster.md"])
def test_the_gpu_rules_named_are_those_the_config_gives_a_gpu(page):
    rules = rule_blocks()
    gpu_rules = {name for name, (_, body) in rules.items()
                 if (kind := re.search(r'gpu=resource\("(\w+)", "gpu"\)', body))
                 and CONFIG["resources"][kind[1]].get("gpu")}
    assert "finetune_tta" in gpu_rules
    named = re.search(r"in `config/config\.yaml` the rules (.*?)\)[:.]", PAGES[page], re.S)
    assert named, f"{page}: the list of GPU rules"
    assert {name for name in re.findall(r"`(\w+)`", named[1]) if name in rules} == gpu_rules


def report_categories() -> set[str]:
    text = "".join(smk.read_text() for smk in (REPO / "rules").glob("*.smk"))
    return (set(re.findall(r'(?<!sub)category="([^"]+)"', text))
            | set(re.findall(r'(?:table|figure)_report\(\s*(?:directory\()?"[^"]+"\)?,\s*"([^"]+)"', text)))


def test_the_report_categories_are_named_in_the_readme_the_study_page_and_the_reports_first_page():
    categories = report_categories()
    order = ["Classical", "Fine-tuning", "Ensemble", "Robustness", "Maps", "Summary", "Cost"]
    assert set(order) == categories
    listing = ", ".join(sorted(categories, key=order.index))
    for text in (README, DOCS["docs/study.md"]):
        assert f"by category ({listing})" in " ".join(text.split())
    first_page = " ".join((REPO / "report" / "workflow.rst").read_text().split())
    assert "The categories are Classical, Fine-tuning, Ensemble, Robustness, Maps, Summary" in first_page
    assert "and Cost" in first_page


def test_docs_configuration_md_places_every_section_of_the_config():
    schema = yaml.safe_load((REPO / "config" / "schema.yaml").read_text())
    table = next(t for t in markdown_tables(DOCS["docs/configuration.md"]) if "section" in t[0])
    named = {key for row in table for key in re.findall(r"`(\w+)`", row["section"])}
    assert named == set(schema["properties"])


def test_error_messages_point_to_sections_that_exist():
    sources = "".join(path.read_text() for path in (REPO / "src").rglob("*.py"))
    pointers = set(re.findall(r"\((?:see )?(docs/[\w-]+\.md), '([^']+)'\)", sources))
    assert ("docs/configuration.md", "Changing settings") in pointers
    assert ("docs/cluster.md", "Pre-staging ImageNet weights") in pointers
    for page, title in pointers:
        assert re.search(rf"^#+ {re.escape(title)}$", DOCS[page], re.M), (page, title)
    assert "(README, '" not in sources


# --- the layout of docs/development.md -----------------------------------------------------------------------------


def layout() -> dict[str, str]:
    """docs/development.md's layout block: path -> what it says of it."""
    block = re.search(r"```\n(.*?)```", section(DOCS["docs/development.md"], "Layout"), re.S)[1]
    return dict(re.match(r"(\S+)\s*(.*)", line).groups() for line in block.splitlines() if not line[:1].isspace())


def test_every_path_of_the_layout_exists():
    rules = rule_blocks()
    for path, what in layout().items():
        if path == "rules/<stage>.smk":
            stages = re.search(r"one per stage: (.+)$", what)[1].split(", ")
            assert sorted(stages) == sorted({stage for stage, _ in rules.values()})
            assert all((REPO / "rules" / f"{stage}.smk").is_file() for stage in stages)
        elif path == "scripts/<stage>/<rule>.py":
            scripts = {f"scripts/{stage}/{name}.py" for name, (stage, body) in rules.items() if "script:" in body}
            for name, (stage, body) in rules.items():
                if "script:" in body:
                    assert f'"../scripts/{stage}/{name}.py"' in body, name
            on_disk = {str(p.relative_to(REPO)) for p in (REPO / "scripts").rglob("*.py")}
            assert on_disk == scripts
        else:
            assert "<" not in path, path
            target = REPO / path
            assert target.is_dir() if path.endswith("/") else target.is_file(), path


def test_the_layout_names_every_top_level_entry_and_every_part_of_the_library():
    named = set(layout())
    library = REPO / "src" / "landcover_transfer"
    for entry in library.iterdir():
        if entry.name != "__init__.py" and not entry.name.startswith("__"):
            assert f"src/landcover_transfer/{entry.name}{'/' if entry.is_dir() else ''}" in named, entry.name
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the top-level entries are those git tracks")
    top = {line.split("/")[0] for line in tracked.splitlines()} - {".gitignore"}
    covered = {path.split("/")[0] for path in named}
    assert top <= covered, sorted(top - covered)
