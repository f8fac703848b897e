"""What every benchmark section shares: the merged configuration, synthetic inputs, timing and summary rows."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "config.yaml"


def load_config(config: str | os.PathLike = CONFIG, overrides: list[str | os.PathLike] = ()) -> dict:
    """`config` with each override file merged in, by Snakemake's own merge of --configfile files."""
    from snakemake.utils import update_config

    merged = yaml.safe_load(Path(config).read_text())
    for path in overrides:
        update_config(merged, yaml.safe_load(Path(path).read_text()) or {})
    return merged


def random_images(n: int, size: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 pixels and balanced labels: throughput depends on neither."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), np.arange(n) % classes


def steady_seconds(durations: list[float]) -> float:
    """Median epoch time without the first epoch (graph tracing), or the only one there is."""
    return float(np.median(durations[1:] or durations))


def timed(function, *args, **kwargs) -> tuple[object, float]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def ratio(candidate: float | None, baseline: float | None) -> float | None:
    if candidate is None or baseline is None or not baseline or math.isnan(candidate) or math.isnan(baseline):
        return None
    return candidate / baseline


def summary_row(comparison: str, baseline: str, candidate: str, baseline_value, candidate_value, unit: str,
                target: str = "", met: bool | None = None, note: str = "", higher_is_better: bool = True) -> dict:
    """One line of summary.csv: candidate / baseline as a ratio (>1: the candidate is better, whatever the unit)."""
    value = ratio(candidate_value, baseline_value) if higher_is_better else ratio(baseline_value, candidate_value)
    return {"comparison": comparison, "baseline": baseline, "candidate": candidate,
            "baseline_value": baseline_value, "candidate_value": candidate_value, "unit": unit,
            "ratio": None if value is None else round(value, 3), "target": target,
            "target_met": "" if met is None else ("yes" if met else "no"), "note": note}


def round_figures(rows: list[dict], digits: int = 2) -> list[dict]:
    return [{key: round(value, digits) if isinstance(value, float) else value for key, value in row.items()}
            for row in rows]
