"""The resume fingerprint of a training names what determines it, not the source code that happens to define it."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from landcover_transfer.finetune import definition as training_definition
from landcover_transfer.finetune import resume
from landcover_transfer.finetune.definition import SOURCE_DIGESTS_OF_VERSION, is_same_training, training_record
from landcover_transfer.workflow.atomic_files import read_json, write_json

ROOT = Path(__file__).resolve().parents[1]
LAST_SOURCE_DIGEST_COMMIT = "031f887"
DEFINITION = {"arch": {"name": "mobilenet_v2"}, "strategy": {"phases": [{"blocks": 1}]}, "augmentation": [],
              "schedules": {}, "training": {"epochs": 2, "seed": 42}, "head": {"dropout": 0.2}, "weights": None,
              "software": {"tensorflow": "2.21.0", "keras": "3.15.1"}}


@pytest.fixture
def inputs(tmp_path):
    files = {"dataset": tmp_path / "data.h5", "splits": tmp_path / "splits.npz"}
    for name, path in files.items():
        path.write_bytes(name.encode())
    return {**{name: str(path) for name, path in files.items()}, "weights": None}


def source_digest_record(definition: dict, inputs: dict, code: dict[str, str]) -> dict:
    """A fingerprint as the finetune job wrote it before definition versions: the definition entries as they are,
    the input digests plus the source digests of the defining modules, the digest of both."""
    files = {**resume.fingerprint({}, inputs)["files"], **code}
    record = {"definition": definition, "files": files}
    record["sha256"] = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
    return record


def half_finished_folder(path: Path, record: dict) -> Path:
    """A resume folder with a fingerprint and a saved state after one epoch."""
    path.mkdir(parents=True)
    write_json(path / "fingerprint.json", record)
    weights = path / "weights-1.weights.h5"
    weights.write_bytes(b"epoch 1")
    write_json(path / "state.json", {"epoch": 1, "history": [{"epoch": 0}], "roles": {"weights": weights.name},
                                     "files": {weights.name: resume.file_digest(weights)}})
    return path


def test_the_fingerprint_holds_the_definition_version_and_no_source_code(inputs):
    record = training_record(DEFINITION, inputs)
    assert record["definition"] == {**DEFINITION, "definition_version": training_definition.DEFINITION_VERSION}
    assert sorted(record["files"]) == ["dataset", "splits", "weights"]
    assert record == training_record(DEFINITION, inputs)


def test_a_definition_version_bump_restarts_a_half_finished_training(tmp_path, inputs, monkeypatch, caplog):
    folder = half_finished_folder(tmp_path / ".resume", training_record(DEFINITION, inputs))
    monkeypatch.setattr(training_definition, "DEFINITION_VERSION", training_definition.DEFINITION_VERSION + 1)
    with resume.claim(folder) as owned:
        owned.adopt(training_record(DEFINITION, inputs), is_same_training)
        assert owned.load_state() is None
    assert "changed: definition_version" in caplog.text


def test_a_record_of_the_source_digest_format_continues_its_training(tmp_path, inputs):
    """A training left half-finished by the release before definition versions resumes from its epoch."""
    old = source_digest_record(DEFINITION, inputs, SOURCE_DIGESTS_OF_VERSION[1])
    folder = half_finished_folder(tmp_path / ".resume", old)
    record = training_record(DEFINITION, inputs)
    with resume.claim(folder) as owned:
        owned.adopt(record, is_same_training)
        assert owned.load_state()["epoch"] == 1
    assert read_json(folder / "fingerprint.json") == record  # rewritten: the next start matches by digest


def test_a_moved_record_of_the_source_digest_format_is_taken_over(tmp_path, inputs):
    old = source_digest_record(DEFINITION, inputs, SOURCE_DIGESTS_OF_VERSION[1])
    source = half_finished_folder(tmp_path / "variant" / ".resume", old)
    target = tmp_path / "variant" / "seed42" / ".resume"
    assert resume.take_over(source, target, training_record(DEFINITION, inputs), is_same_training)
    assert (target / "weights-1.weights.h5").is_file()


@pytest.mark.parametrize("change", ["other source", "no source", "other data", "other definition"])
def test_a_record_of_the_source_digest_format_for_another_training_restarts(tmp_path, inputs, change):
    code = dict(SOURCE_DIGESTS_OF_VERSION[1])
    definition, data = dict(DEFINITION), dict(inputs)
    if change == "other source":
        code["code/models.py"] = "0" * 64  # an older release's models.py
    elif change == "no source":
        code = {}
    elif change == "other data":
        Path(data["splits"]).write_bytes(b"other splits")
    else:
        definition["training"] = {"epochs": 3, "seed": 42}
    folder = half_finished_folder(tmp_path / ".resume", source_digest_record(definition, data, code))
    Path(inputs["splits"]).write_bytes(b"splits")
    with resume.claim(folder) as owned:
        owned.adopt(training_record(DEFINITION, inputs), is_same_training)
        assert owned.load_state() is None


def test_the_source_digests_of_version_1_are_those_of_its_release():
    """The digests the finetune job hashed at the last release with source digests (from the git history)."""
    found = {}
    for name in SOURCE_DIGESTS_OF_VERSION[1]:
        path = f"src/landcover_transfer/{name.removeprefix('code/')}"
        shown = subprocess.run(["git", "show", f"{LAST_SOURCE_DIGEST_COMMIT}:{path}"], cwd=ROOT, capture_output=True)
        if shown.returncode != 0:
            pytest.skip(f"commit {LAST_SOURCE_DIGEST_COMMIT} is not in this clone's history (shallow clone?)")
        found[name] = hashlib.sha256(shown.stdout).hexdigest()
    assert found == SOURCE_DIGESTS_OF_VERSION[1]
