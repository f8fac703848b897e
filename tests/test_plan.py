"""The planned jobs of the default, EuroSAT and demo configs are those of the snapshots in tests/plans/: a change
to the workflow's code that alters a job's params, inputs or outputs would rerun that job in a finished study."""

import json

import pytest

from tests.planned_jobs import CONFIGS, SNAPSHOTS, plan


def _differences(expected: list[dict], planned: list[dict]) -> list[str]:
    def key(job):
        return job["rule"], json.dumps(job["wildcards"], sort_keys=True)

    before, after = {key(job): job for job in expected}, {key(job): job for job in planned}
    lines = [f"{verb} job {rule} {wildcards}" for verb, keys in (("new", after.keys() - before.keys()),
                                                                 ("lost", before.keys() - after.keys()))
             for rule, wildcards in sorted(keys)]
    for job_key in sorted(before.keys() & after.keys()):
        changed = [field for field in before[job_key] if before[job_key][field] != after[job_key][field]]
        if changed:
            lines.append(f"changed {', '.join(changed)} of job {job_key[0]} {job_key[1]}")
    return lines


@pytest.mark.parametrize("name", CONFIGS)
def test_plan_matches_its_snapshot(name):
    expected = json.loads((SNAPSHOTS / f"{name}.json").read_text())
    differences = _differences(expected, plan(name))
    assert not differences, (
        "the planned jobs changed (a finished study would rerun them); if intended, rewrite tests/plans/ with "
        "`PYTHONPATH=src .venv/bin/python -m tests.planned_jobs --write` and review the diff:\n"
        + "\n".join(differences))


def test_a_changed_param_is_reported():
    expected = json.loads((SNAPSHOTS / "demo.json").read_text())
    planned = json.loads(json.dumps(expected))
    finetune = next(job for job in planned if job["rule"] == "finetune")
    finetune["params"]["changed"] = True
    planned.pop()
    differences = _differences(expected, planned)
    assert any(line.startswith("changed params of job finetune") for line in differences)
    assert any(line.startswith("lost job") for line in differences)
