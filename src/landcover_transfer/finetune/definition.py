"""What defines a fine-tuning besides its config: a version number, and the records of the format it replaced.

A training's resume fingerprint (`resume.fingerprint`) holds its effective parameters, the digests of its data,
splits and weights files, the TensorFlow and Keras versions, and `DEFINITION_VERSION`. It holds no source code:
moving a function or editing a comment restarts nothing. A change that alters what a training computes (model
building, phases and optimisation, augmentation, the attacks of adversarial training, the batch-size rule) bumps
`DEFINITION_VERSION`, and then every half-finished training restarts instead of continuing under other rules.
"""

from __future__ import annotations

import os

from landcover_transfer.finetune.resume import fingerprint

DEFINITION_VERSION = 1

# Until version 1 the fingerprint held the source digests of these modules instead of a version: the bytes they had
# when version 1 was introduced (commit 031f887). A record with exactly these digests was made by version 1, so a
# training left half-finished before the upgrade continues. Older bytes are older definitions: they restart.
SOURCE_DIGESTS_OF_VERSION = {
    1: {
        "code/adversarial_training.py": "5cc018d73e8049cc3a833365b54dc9fae785d21b26d86e2d5806e15bf79e4ddb",
        "code/models.py": "da49581c44877aaf2145c659b594199413525dee05c1cf063b2ea7e67a84d8e7",
        "code/training.py": "cde504d2b04660c0483fbee2e64ffc079dcb37a54de9e5765bcbf81311933da9",
    },
}


def training_record(definition: dict, files: dict[str, str | os.PathLike | None]) -> dict:
    """The resume fingerprint of a training: its definition entries (effective parameters, weights, software) under
    the current definition version, and the digests of its input `files` (role -> path or None)."""
    return fingerprint({**definition, "definition_version": DEFINITION_VERSION}, files)


def is_same_training(old: dict, record: dict) -> bool:
    """Whether `old`, a fingerprint in the source-digest format, was made by the training that `record` names."""
    files = old.get("files", {})
    code = {name: digest for name, digest in files.items() if name.startswith("code/")}
    version = record["definition"].get("definition_version")
    if not code or code != SOURCE_DIGESTS_OF_VERSION.get(version):
        return False
    data = {name: digest for name, digest in files.items() if name not in code}
    return data == record["files"] and {**old.get("definition", {}), "definition_version": version} == record[
        "definition"]
