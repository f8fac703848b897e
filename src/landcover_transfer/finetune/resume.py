"""The resume folder of one training job: an exclusive owner, a fingerprint, one atomic state file.

A training killed at any moment (SIGKILL, SLURM time limit, node loss, disk full) resumes from its last
finished epoch, and only from state that is complete and was made by the same training definition:

- **Owner**: the job holds an exclusive `flock` on `lock` for its whole life (training, writing its
  outputs). A second job on the same variant (a rerun while an orphan left running by a killed Snakemake
  still trains) waits for it instead of training on the same files, then continues from its state;
  the kernel releases the lock when the owner dies, so a dead owner never blocks anyone.
- **Fingerprint**: a digest of everything that defines the training (config entries, data and weights
  file contents, library versions, the definition's version). State made by another definition is discarded,
  with one log line naming what changed; a record of an older format is kept when the caller's `same_training`
  says it names this training.
- **Finished**: a finished training keeps its state and best weights (`keep_finished`), so outputs
  deleted by Snakemake are rebuilt without training again.
- **State**: `state.json`, replaced atomically after each epoch, names the weight files it belongs to
  (written under new names first) and holds the history. A kill or a full disk while a file is written
  leaves the previous state whole; a state whose files are missing or differ from their digests is
  not used.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

from landcover_transfer.workflow.atomic_files import read_json, write_json

log = logging.getLogger(__name__)

# Whether an older fingerprint record (first argument) was made by the training the current record names.
SameTraining = Callable[[dict, dict], bool]

STATE = "state.json"
FINGERPRINT = "fingerprint.json"
LOCK = "lock"


def file_digest(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(definition: dict, files: dict[str, str | None]) -> dict:
    """`definition` (JSON-able config entries) plus the content digest of each named file."""
    content = {name: file_digest(path) if path else None for name, path in sorted(files.items())}
    record = {"definition": definition, "files": content}
    record["sha256"] = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
    return record


def is_match(old: dict, record: dict, same_training: SameTraining | None = None) -> bool:
    """Whether the fingerprint `old` names the training of `record` (in its format or, per `same_training`, an
    older one)."""
    return old.get("sha256") == record["sha256"] or (same_training is not None and same_training(old, record))


def changed_entries(old: dict, new: dict) -> list[str]:
    """Top-level definition keys and file names whose values differ between two fingerprints."""
    names = []
    for part in ("definition", "files"):
        before, after = old.get(part, {}), new.get(part, {})
        names += [key for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]
    return names


class ResumeFolder:
    """An owned resume folder (see the module docstring). Use through `claim`."""

    def __init__(self, path: Path):
        self.path = path

    def adopt(self, record: dict, same_training: SameTraining | None = None) -> None:
        """Keep the state if it was made by the same training definition, else empty the folder. A record of an
        older format that `same_training` accepts is replaced by `record`, keeping the state."""
        path = self.path / FINGERPRINT
        if path.exists():
            old = read_json(path)
            if is_match(old, record, same_training):
                if old != record:
                    write_json(path, record)
                    log.info("resume state in %s: fingerprint record rewritten in the current format", self.path)
                return
            log.warning("resume state in %s was made by a different training definition (changed: %s): "
                        "discarded, training starts afresh", self.path, ", ".join(changed_entries(old, record)))
        self._clear(keep={LOCK})
        write_json(path, record)

    def load_state(self) -> dict | None:
        """The last saved state, or None when there is none or it is not whole (then it is discarded)."""
        path = self.path / STATE
        if not path.exists():
            return None
        state = read_json(path)
        damaged = [name for name, digest in state["files"].items()
                   if not (self.path / name).is_file() or file_digest(self.path / name) != digest]
        if damaged:
            log.warning("resume state in %s is damaged (%s missing or changed): discarded, training starts "
                        "afresh", self.path, ", ".join(damaged))
            self._clear(keep={LOCK, FINGERPRINT})
            return None
        return state

    def save_state(self, state: dict, new_files: dict[str, Path]) -> None:
        """Record `state` with `new_files` (role -> file already written in the folder) replacing the
        previous files of those roles; old files are removed only once the state no longer names them."""
        previous = read_json(self.path / STATE) if (self.path / STATE).exists() else {"roles": {}, "files": {}}
        written = {role: path.name for role, path in new_files.items()}
        roles = {**previous["roles"], **written}
        digests = {name: previous["files"][name] for name in roles.values() if name not in written.values()}
        digests.update({name: file_digest(self.path / name) for name in written.values()})
        write_json(self.path / STATE, {**state, "roles": roles, "files": digests})
        for name in set(previous["roles"].values()) - set(roles.values()):
            (self.path / name).unlink(missing_ok=True)

    def roles(self) -> dict[str, str]:
        """Role -> file name of the saved state (weights, best)."""
        return read_json(self.path / STATE)["roles"] if (self.path / STATE).exists() else {}

    def file(self, role: str) -> Path:
        return self.path / self.roles()[role]

    def keep_finished(self) -> None:
        """After the outputs are written: keep what re-creates them (state, best weights, fingerprint) and
        drop the rest. Snakemake deletes the outputs of a job it saw start but not end (`--rerun-incomplete`
        after it was killed, although the job went on and finished): the rerun then rebuilds them in
        seconds instead of training again. A changed definition still trains afresh (`adopt`)."""
        state = read_json(self.path / STATE)
        best = state["roles"]["best"]
        write_json(self.path / STATE, {**state, "roles": {"best": best}, "files": {best: state["files"][best]}})
        for entry in self.path.iterdir():
            if entry.name.startswith(".") or (entry.name.endswith(".weights.h5") and entry.name != best):
                entry.unlink()

    def _clear(self, keep: set[str]) -> None:
        for entry in self.path.iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()


def take_over(source: str | os.PathLike, target: str | os.PathLike, record: dict,
              same_training: SameTraining | None = None) -> bool:
    """Move the resume folder `source` to `target` when `source` holds this very training (fingerprint `record`)
    and `target` holds none: a finished or half-done training whose results moved (into a seed's folder, when
    seeds got folders) continues from its state instead of training again. Returns whether it moved."""
    source, target = Path(source), Path(target)
    if not (source / FINGERPRINT).is_file() or not is_match(read_json(source / FINGERPRINT), record, same_training):
        return False
    if target.exists() and any(entry.name != LOCK for entry in target.iterdir()):
        return False
    with claim(source):
        if target.exists():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    log.info("took over the state of this training from %s", source)
    return True


@contextlib.contextmanager
def claim(path: str | os.PathLike, poll_seconds: float = 30.0) -> Iterator[ResumeFolder]:
    """Own the resume folder `path` for the block, waiting while another live job owns it."""
    path = Path(path)
    waiting = False
    while True:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not waiting:
                log.warning("%s is in use by another training job (%s): waiting for it to end (it may be "
                            "a job left running when Snakemake was killed; cancel it to train here instead)",
                            path, _read_owner(fd))
            waiting = True
            os.close(fd)
            time.sleep(poll_seconds)
            continue
        if _same_file(fd, path / LOCK):
            break
        os.close(fd)  # the folder was removed (by hand) while we waited: claim the new one
    try:
        _write_owner(fd)
        yield ResumeFolder(path)
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _write_owner(fd: int) -> None:
    owner = f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}"
    os.ftruncate(fd, 0)
    os.pwrite(fd, owner.encode(), 0)


def _read_owner(fd: int) -> str:
    return os.pread(fd, 200, 0).decode(errors="replace") or "owner unknown"
