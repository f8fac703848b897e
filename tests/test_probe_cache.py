"""workflow/probe_cache.py: the onstart configuration probe runs once per probed config, versions and code."""

from __future__ import annotations

from pathlib import Path

from landcover_transfer.workflow.probe_cache import probe_key, probe_once

PROBED = {"augmentations": {"standard": [{"RandomFlip": {"mode": "horizontal"}}]},
          "strategies": {"last_block": {"phases": [{"blocks": 1, "learning_rate": 0.0001}]}}}


class Probe:
    """A probe that counts its runs and returns the problems it is given."""

    def __init__(self, problems=()):
        self.problems, self.runs = list(problems), 0

    def __call__(self) -> list[str]:
        self.runs += 1
        return self.problems


def source(tmp_path: Path, text: str = "x = 1\n") -> Path:
    path = tmp_path / "pipeline.py"
    path.write_text(text)
    return path


def test_a_probe_that_passed_is_not_run_again_for_the_same_config(tmp_path):
    probe, sources = Probe(), [source(tmp_path)]
    assert probe_once(PROBED, sources, probe, tmp_path / "cache") == []
    assert probe_once(PROBED, sources, probe, tmp_path / "cache") == []
    assert probe.runs == 1


def test_a_probe_with_problems_runs_every_time_and_reports_them(tmp_path):
    probe, sources = Probe(["augmentations.standard: RandomFlip left every image unchanged"]), [source(tmp_path)]
    for _ in range(2):
        assert probe_once(PROBED, sources, probe, tmp_path / "cache") == probe.problems
    assert probe.runs == 2 and not any((tmp_path / "cache").glob("*"))


def test_another_config_or_changed_code_is_probed_again(tmp_path):
    probe, path = Probe(), source(tmp_path)
    probe_once(PROBED, [path], probe, tmp_path / "cache")
    other = {**PROBED, "augmentations": {"standard": [{"RandomFlip": {"mode": "vertical"}}]}}
    probe_once(other, [path], probe, tmp_path / "cache")
    path.write_text("x = 2\n")
    probe_once(PROBED, [path], probe, tmp_path / "cache")
    assert probe.runs == 3


def test_the_key_does_not_depend_on_key_order_or_source_order(tmp_path):
    first, second = source(tmp_path), tmp_path / "optimisation.py"
    second.write_text("y = 1\n")
    reordered = {"strategies": PROBED["strategies"], "augmentations": PROBED["augmentations"]}
    assert probe_key(PROBED, [first, second]) == probe_key(reordered, [second, first])


def test_an_unwritable_cache_only_means_probing_again(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the cache folder would be: mkdir fails
    probe = Probe()
    assert probe_once(PROBED, [source(tmp_path)], probe, blocked / "cache") == []
    assert probe_once(PROBED, [source(tmp_path)], probe, blocked / "cache") == []
    assert probe.runs == 2
