"""The configuration probe run before any job (finetune/probe.py), remembered once it has passed.

Probing builds every augmentation layer and optimizer of the grid, which needs TensorFlow: ~5 s on every run that
has a job to do, most of it TensorFlow's import. A probe that passed is remembered under the user's cache folder,
keyed by what decides its result (the probed config entries, the Keras and TensorFlow versions, the library code
that builds them), so a rerun of the same study skips it. A probe with problems is never remembered.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "landcover-transfer" / "config-probes"


def probe_key(probed: dict, sources: Iterable[str | Path]) -> str:
    """SHA-256 of the probed config entries, the installed Keras and TensorFlow versions and the sources' bytes."""
    digest = hashlib.sha256(json.dumps(probed, sort_keys=True, default=str).encode())
    for package in ("keras", "tensorflow"):
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} absent".encode())
    for path in sorted(map(str, sources)):
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def probe_once(probed: dict, sources: Iterable[str | Path], probe: Callable[[], list[str]],
               cache_dir: Path | None = None) -> list[str]:
    """`probe()`'s problems, or none without running it when the same probe passed before."""
    marker = (cache_dir or default_cache_dir()) / probe_key(probed, sources)
    if marker.is_file():
        return []
    problems = probe()
    if not problems:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:  # a read-only home: the probe runs again next time, nothing else changes
            pass
    return problems
