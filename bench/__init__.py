"""`make bench`: the comparisons a user weighing this workflow against the study's notebook needs, in one run on
one machine, each as a ratio with its target (see docs/benchmarks.md, written from the CSVs by `bench.docs`).
The benchmarks sit beside the library, outside the installed package (no workflow job imports them): run from
the repository root as `PYTHONPATH=src python -m bench` (`make bench`).

Sections (each writes results/bench/<section>.csv and rows of results/bench/summary.csv):
`pipeline` (ImageDataGenerator vs tf.data), `augmentation` (cost per policy), `training` (images/s per
architecture and unfrozen depth, feature extraction, XLA / mixed precision on vs off), `classical` (fit times,
XGBoost settings), `overhead` (one job's start-up vs training; a finished demo's time per step), `dag` (dry-run
time of the grid), and `study` (full-size variants and the projected time of the study; run by bench/gpu.sh).
"""
