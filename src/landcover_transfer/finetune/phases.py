"""The phases of a fine-tuning strategy in epochs: where each starts and ends. No TensorFlow, so plots use it too."""

from __future__ import annotations


def phase_plan(phases: list[dict], total_epochs: int) -> list[dict]:
    """Global [start, end) epochs per phase; a phase without `epochs` takes what is left of `total_epochs`.

    The config check refuses strategies whose phases do not all fit (`config.check_references`).
    """
    plan, start = [], 0
    for index, phase in enumerate(phases):
        length = phase.get("epochs") or (total_epochs - start)
        end = min(start + length, total_epochs)
        if end > start:
            plan.append({**phase, "index": index, "start": start, "end": end})
        start = end
    return plan


def phase_switches(strategy: dict, training: dict) -> list[int]:
    """0-based first epochs of a strategy's phases after the first (where the learning curves change course)."""
    return [phase["start"] for phase in phase_plan(strategy["phases"], training["epochs"])[1:]]
