#!/usr/bin/env bash
# The benchmark on a bare GPU machine: installs the pinned stack with TensorFlow's CUDA build, runs `make bench` at
# the study's data size (24,000 synthetic images) with one full-size variant per architecture for 2 epochs, and
# prints images/s and the projected time of the whole study on one GPU. On a machine without a GPU it runs the same
# and reports CPU figures.
#
#   bench/gpu.sh                                   # .venv-gpu (tensorflow[and-cuda]), size study
#   bench/gpu.sh --size tiny --python .venv/bin/python --out /tmp/bench -- --sections training study
#
# Options: --size study|default|tiny (the bench's size preset), --python PATH (use that environment instead of
# installing .venv-gpu), --out DIR (CSVs; default results/bench/gpu), --docs FILE (default docs/benchmarks-gpu.md);
# after --, options for `python -m bench` (they override these).
set -euo pipefail
cd "$(dirname "$0")/.."

size=study
python=""
out=results/bench/gpu
docs=docs/benchmarks-gpu.md
sections="pipeline training switches augmentation classical overhead dag study"
while [ $# -gt 0 ]; do
    case "$1" in
        --size) size=$2; shift 2 ;;
        --python) python=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --docs) docs=$2; shift 2 ;;
        --) shift; break ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "bench/gpu.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ -z "$python" ]; then
    # requirements.txt pins tensorflow_cpu; here the same version of the CUDA build, everything else as pinned.
    tf_version=$(sed -n 's/^tensorflow_cpu==//p' requirements.txt)
    python3 -m venv .venv-gpu
    .venv-gpu/bin/python -m pip install --quiet --upgrade pip
    grep -v '^tensorflow_cpu==' requirements.txt >.venv-gpu/requirements-gpu.txt
    .venv-gpu/bin/python -m pip install --quiet -r .venv-gpu/requirements-gpu.txt "tensorflow[and-cuda]==$tf_version"
    python=.venv-gpu/bin/python
fi

if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; fi
"$python" -c 'import tensorflow as tf; print("TensorFlow", tf.__version__, "sees GPUs:",
      [gpu.name for gpu in tf.config.list_physical_devices("GPU")] or "none (CPU figures)")' 2>/dev/null

# shellcheck disable=SC2086  # the section names are separate words on purpose
make bench BENCH_PYTHON="$python" BENCH_VENV= \
    BENCH_ARGS="--size $size --sections $sections --out $out --docs $docs $*"

"$python" - "$out" <<'PY'
import sys

import pandas as pd

study = pd.read_csv(f"{sys.argv[1]}/study.csv")
for row in study.itertuples():
    print(f"{row.variant}: {row.images_per_s:,.0f} images/s ({row.fit_images} fit images, one epoch {row.epoch_seconds:.1f} s)")
print(f"projected full study on this machine: {study['projected_hours'].sum():.2f} h "
      "(every variant all its epochs; early stopping ends runs sooner)")
PY
