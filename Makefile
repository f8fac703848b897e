# The README's two commands: `make demo` and `make test`. Each sets up .venv (pinned) when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SNAKEMAKE := $(BIN)/snakemake --profile profiles/local --cores 2
DEMO := --configfile config/demo.yaml

.PHONY: venv demo lint test bench benchmark recipe clean-demo screenshots

# With the pinned dependencies, Snakemake's logger plugin of `make demo` (LOGGER_PLUGIN, a package of its own). Not an
# editable install: Snakemake finds logger plugins with pkgutil.iter_modules() on sys.path, which misses the import
# hooks of editable installs.
LOGGER_PLUGIN := snakemake-logger-plugin-landcover
$(VENV)/.installed: requirements.txt requirements-dev.txt $(LOGGER_PLUGIN)/pyproject.toml $(wildcard $(LOGGER_PLUGIN)/*/*.py)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 needed, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r requirements-dev.txt ./$(LOGGER_PLUGIN)
	touch $@

venv: $(VENV)/.installed

# The whole workflow on synthetic data (config/demo.yaml), then the HTML report, then the wall time of both. The
# terminal shows two lines per job, its start and its result with the progress (the logger plugin `landcover`:
# $(LOGGER_PLUGIN)/); Snakemake's full output is in .snakemake/log/.
demo: venv
	@started=$$(date +%s) && \
	$(SNAKEMAKE) $(DEMO) --logger landcover && \
	$(BIN)/snakemake $(DEMO) --report results/report.html --quiet all && \
	seconds=$$(( $$(date +%s) - started )) && \
	echo "Demo done in $$((seconds / 60)) min $$((seconds % 60)) s: results/tables/leaderboard.md, results/plots/," \
	     "results/report.html"

# ruff (pyflakes, pycodestyle, bugbear, isort; settings in pyproject.toml), snakefmt on the workflow files, and the
# library's layers and cycles (import-linter: the contracts in pyproject.toml).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile rules/
	PYTHONPATH=src $(BIN)/lint-imports --no-cache

# Three pytest-xdist workers on 2 cores: the SLURM tests mostly wait on the scheduler while the other two compute
# (tests/conftest.py groups the tests that share an expensive fixture on one worker).
TEST_WORKERS ?= 3
test: venv lint
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder --durations=15

clean-demo:
	rm -rf results/data results/pretrained results/features results/classical results/finetune \
	       results/ensemble results/robustness results/tables results/plots results/config results/report.html \
	       results/screenshots logs benchmarks

# The comparisons of docs/benchmarks.md on this machine, in one run: results/bench/*.csv, the summary printed, then
# docs/benchmarks.md written from the CSVs (sizes and sections: BENCH_ARGS, e.g. BENCH_ARGS="--size tiny" or
# "--demo /path/to/finished/demo"; all options: PYTHONPATH=src .venv/bin/python -m bench -h). The code is the
# package bench/ beside the library (not installed with it): `-m bench` finds it from the repository root.
# tf_keras (the study's ImageDataGenerator) goes into $(BENCH_PACKAGES) only, with --no-deps: see
# requirements-bench.txt. bench/gpu.sh runs this target with its own Python (BENCH_PYTHON, BENCH_VENV=).
BENCH_PYTHON ?= $(BIN)/python
BENCH_VENV ?= venv
BENCH_PACKAGES ?= .bench-packages
BENCH_ARGS ?=

$(BENCH_PACKAGES)/.installed: requirements-bench.txt | $(BENCH_VENV)
	$(BENCH_PYTHON) -m pip install --quiet --no-deps --upgrade --target $(BENCH_PACKAGES) -r requirements-bench.txt
	touch $@

bench: $(BENCH_VENV) $(BENCH_PACKAGES)/.installed
	PYTHONPATH=src:$(BENCH_PACKAGES) $(BENCH_PYTHON) -m bench $(BENCH_ARGS)

# The recipe's ablation (config/eurosat.yaml + config/recipe-dev.yaml) on the real EuroSAT sample and MobileNetV2
# weights under $(SHARED), in its own working directory $(RECIPE_DIR), then docs/recipe.md from its tables (the
# ablation, the ensembles of the recipe's variants, and the classical models on the recipe's features).
# RECIPE_CONFIG: more override files (one with `finetune: {seeds: [42]}`: one seed per row); RECIPE_ARGS: more
# Snakemake options (e.g. -n). The sample and the weights are copied once into $(RECIPE_DIR)/data/: $(SHARED) is made afresh on each
# development machine, and its newer modification times would rerun the conversion and so retrain every row.
SHARED ?= $(abspath $(CURDIR)/../shared)
RECIPE_DIR ?= recipe-dev
RECIPE_WEIGHTS := $(RECIPE_DIR)/data/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5
RECIPE_SAMPLE := $(RECIPE_DIR)/data/eurosat-rgb-dev
recipe: venv
	mkdir -p $(RECIPE_DIR)/data
	test -d $(RECIPE_SAMPLE) || cp -r $(SHARED)/data/eurosat-rgb-dev $(RECIPE_SAMPLE)
	test -f $(RECIPE_WEIGHTS) || cp $(SHARED)/weights/$(notdir $(RECIPE_WEIGHTS)) $(RECIPE_WEIGHTS)
	$(SNAKEMAKE) --logger landcover --directory $(RECIPE_DIR) --configfile $(CURDIR)/config/eurosat.yaml $(CURDIR)/config/recipe-dev.yaml \
		$(abspath $(RECIPE_CONFIG)) \
		--config weights=$(abspath $(RECIPE_WEIGHTS)) 'data={eurosat: {archive: $(abspath $(RECIPE_SAMPLE))}}' \
		$(RECIPE_ARGS) -- results/tables/ablation.md results/tables/ensemble.md results/tables/classical.md
	mkdir -p docs && (set -e; cat $(RECIPE_DIR)/results/tables/ablation.md; \
		printf '\n## Ensembles of the recipe over its seeds\n\n'; cat $(RECIPE_DIR)/results/tables/ensemble.md; \
		printf '\n## Classical models on the features of the recipe\n\n'; cat $(RECIPE_DIR)/results/tables/classical.md) \
		> docs/recipe.md.tmp && mv docs/recipe.md.tmp docs/recipe.md

# The old name of `make bench` (training images/s alone: PYTHONPATH=src python -m bench.throughput).
benchmark: bench

# What a reader of results/report.html sees: its first page and every table, as PNGs (headless Chromium).
screenshots: venv
	PYTHONPATH=src $(BIN)/python -m landcover_transfer.reporting.screenshots results/report.html results/screenshots
