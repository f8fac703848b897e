"""A throw-away single-node SLURM cluster on localhost, for tests of the SLURM profile.

Nothing here is part of the workflow: it exists so that ``profiles/slurm`` can be exercised
end to end on one machine (CI runner or laptop VM) with Debian's Slurm 22.05 packages.

Requirements: Linux, root, and either the Slurm/munge binaries already installed or a working
``apt-get`` (packages ``slurmctld slurmd slurm-client munge``, ~7 s to install). No systemd is
needed and nothing is written to ``/etc/slurm``: every config, state dir, spool, socket and log
lives under one temporary directory, and clients find the cluster through ``SLURM_CONF``. (The
only system file touched is the package's ``/etc/munge/munge.key``: created if missing,
owner munge, mode 0600, as munged demands.)

API
===

``LocalSlurmCluster(base_dir=None, cpus=16, memory_mb=262144, gpus=2, ...)``
    Describes a cluster: one node (named after ``hostname -s``, address 127.0.0.1) in two
    partitions, ``cpu`` (the default) and ``gpu``. The node *advertises* ``cpus``/``memory_mb``
    (``SlurmdParameters=config_overrides``), so a profile written for real nodes
    (e.g. ``mem_mb: 32000 * attempt``, ``cpus_per_gpu: 8``) is accepted unchanged; nothing
    enforces those limits on the 2-core test VM. ``gpus`` fake GPUs (``Gres=gpu:N``, backed by
    ``/dev/null``, ``/dev/zero``, ...): a job asking ``--gpus=1`` is scheduled against them and
    gets ``CUDA_VISIBLE_DEVICES`` set, like on a real GPU node. ``MinJobAge`` (default 3600 s)
    keeps finished jobs visible to ``squeue``/``scontrol`` (there is no slurmdbd, so ``sacct``
    does not work: use ``--slurm-status-command squeue``, see ``snakemake_cli_args()``).

``LocalSlurmCluster.available() -> (bool, reason)``
    Cheap check (no install): root, Linux, and Slurm binaries present or ``apt-get`` present.

``start(timeout=60)`` / ``stop()`` / ``with LocalSlurmCluster() as cluster: ...``
    ``start()`` installs missing packages (idempotent; ~0 s when present), writes
    ``slurm.conf``/``gres.conf``, starts ``munged`` (as user munge), ``slurmctld -D`` and
    ``slurmd -D`` in the background and waits for ``scontrol ping`` and an idle node. It raises
    ``SlurmClusterUnavailable`` if packages cannot be installed (callers skip on that) and
    ``SlurmClusterError`` if the daemons do not come up (callers fail on that; the message
    carries the daemon logs). ``stop()`` cancels remaining jobs and ends the daemons it started,
    by PID, then any process left in their sessions (``slurmstepd``, job processes).
    ``cleanup()`` = ``stop()`` + delete the temporary directory (what ``__exit__`` does).
    ``timings`` holds ``install_s``, ``startup_s``. ``cpu_partition``/``gpu_partition``
    hold the partition names.

``env(base=None) -> dict``
    Environment for subprocesses (``SLURM_CONF``; inherited ``SLURM_*`` job variables removed;
    ``PATH`` starts with the cluster's ``bin/``, which holds an ``srun`` shim: the jobstep
    plugin strips ``SLURM_CONF`` before the ``srun`` inside each job, see ``_write_configs``).
    Pass it to Snakemake: the plugin calls ``sbatch``/``squeue``/``sinfo``/``scontrol`` and
    ``sbatch --export=ALL`` hands the same variables to the jobs.

``run(*args, check=True) -> CompletedProcess``
    Run a Slurm client command (``run("squeue")``) against this cluster.

``snakemake_cli_args() -> list[str]``
    The plugin settings this cluster needs on top of a real-cluster profile:
    ``--slurm-status-command squeue`` (no accounting database), a short
    ``--slurm-init-seconds-before-status-checks`` (default 40 s) and status checks every 2 s instead of
    Snakemake's 10 (on a one-node test cluster each level of the workflow's graph otherwise waits up to 10 s
    for its jobs to be seen finished). They are scalar options, so giving them on the command line
    overrides only those keys of the profile.

``job_records(job_ids=None) -> list[JobRecord]``
    Parses ``scontrol show job -d -o`` (all jobs still known, i.e. finished less than MinJobAge
    ago). ``JobRecord`` has ``job_id``, ``name`` (the Snakemake run UUID), ``rule`` (from the
    plugin's ``--comment rule_<name>[_wildcards_...]``), ``partition``, ``state``,
    ``exit_code``, ``requested_gpus`` (from ``TresPerJob``/``TresPerNode``/``TresPerTask``),
    ``allocated_gpus`` (``JOB_GRES`` of ``scontrol -d``), ``account``, ``cpus``, ``mem_mb`` (``MinMemoryNode``/
    ``MinMemoryCPU``), ``time_limit`` and ``fields`` (everything, raw).
    ``jobs_by_rule(records=None) -> {rule: [JobRecord, ...]}`` groups them.

``run_snakemake(args, cwd=..., env=..., timeout=600) -> CompletedProcess``
    ``[sys.executable, "-m", "snakemake", *args]`` with output captured (``.stdout``, stderr
    merged); on timeout kills its process group and raises ``TimeoutExpired`` with the output.
    ``parse_job_stats(output) -> {rule: count}`` reads the first "Job stats:" table.

``slurm_cluster`` (pytest fixture, session scope)
    A started cluster; skips with the reason where ``available()`` is false or the packages
    cannot be installed, but FAILS instead when CI=true and running as root (``skip_or_fail``).
    Use it with ``from slurm_cluster import slurm_cluster`` in a test module (or in
    ``tests/conftest.py``); modules that each import it still share one cluster per process.

``render_profile(profile_dir, dest_dir, *, default_resources=None, set_resources=None, options=None,
partitions=None)``
    Module function: copy a profile's ``config.yaml`` to ``dest_dir`` with values overridden
    (``None`` deletes a key), beside its other files; ``partitions`` renames the partitions of its
    ``slurm-partition-config`` file. This is the "edit the placeholders once" step, done in a test.
    It exists because Snakemake replaces a *whole* top-level profile key when the same option
    is given on the command line (``--default-resources slurm_account=x`` drops every other
    default resource of the profile, ``--set-resources finetune:gpu_model=a100`` drops all
    of the profile's ``set-resources``), so list-valued keys cannot be patched on the command line.

Typical use (see ``tests/test_slurm_profile.py``)::

    def test_real_workflow(slurm_cluster, tmp_path):          # fixture imported from here
        profile = render_profile(
            REPO / "profiles/slurm", tmp_path / "profile",
            default_resources={"slurm_account": "lcttest"},      # the placeholder, filled in
            options={"software-deployment-method": None},        # no conda on the test machine
        )
        result = run_snakemake(
            ["--profile", str(profile), *slurm_cluster.snakemake_cli_args(),
             "--configfile", "tests/config/tiny.yaml", "--jobs", "2"],
            cwd=REPO, env=slurm_cluster.env(), timeout=900)
        assert result.returncode == 0, result.stdout
        jobs = slurm_cluster.jobs_by_rule()     # {rule: [JobRecord]}, e.g. check GPU requests

Pitfalls encoded here (measured with Slurm 22.05, snakemake 9.27, plugin 2.8):
without slurmdbd ``sacct`` fails and the plugin loses track of jobs unless the status command
is ``squeue`` (which needs ``MinJobAge`` >= 3x the init delay); jobs without ``mem_mb`` take the
whole node; GPUs without a ``File=`` in gres.conf are dropped; ``AccountingStorageTRES=gres/gpu``
makes slurmctld refuse to start without slurmdbd; the jobstep plugin drops ``SLURM_CONF`` before
its inner ``srun`` (hence the shim); a killed Snakemake leaves a lock (``--unlock``).
"""

from __future__ import annotations

import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

__all__ = [
    "JobRecord",
    "LocalSlurmCluster",
    "SlurmClusterError",
    "SlurmClusterUnavailable",
    "parse_job_stats",
    "parse_scontrol_oneliner",
    "render_profile",
    "run_snakemake",
    "skip_or_fail",
    "slurm_cluster",
]

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
# binary -> package providing it
BINARIES = {
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "sbatch": "slurm-client",
    "squeue": "slurm-client",
    "scontrol": "slurm-client",
    "sinfo": "slurm-client",
    "scancel": "slurm-client",
    "munged": "munge",
}
SBIN_DIRS = ("/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin")
# Character devices that exist everywhere; each backs one fake GPU (file-less GPUs are dropped).
FAKE_GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom", "/dev/random")


class SlurmClusterUnavailable(RuntimeError):
    """The cluster cannot be set up on this machine (not root, no packages): skip, don't fail."""


class SlurmClusterError(RuntimeError):
    """The cluster was set up but did not behave (daemon died, timeout): a real failure."""


def _which(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN_DIRS:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _session_members(sessions: set[int]) -> list[int]:
    """PIDs of live (non-zombie) processes whose session id is in `sessions` (read from /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces
        rest = stat.rsplit(")", 1)[1].split()
        state, sid = rest[0], int(rest[3])
        if sid in sessions and state != "Z" and int(entry.name) != os.getpid():
            members.append(int(entry.name))
    return members


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie counts as dead
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _parse_mem_mb(value: str | None) -> int | None:
    """'16000M' -> 16000, '4G' -> 4096, '0' -> 0, '' / '(null)' -> None."""
    if not value or value == "(null)":
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", value)
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)
    factor = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    return int(round(number * factor))


def _gpu_count(tres: str | None) -> int:
    """Count GPUs in a TRES string: 'gres:gpu:1', 'gres/gpu=2', 'gres:gpu:a100:1', 'gpu:1'."""
    if not tres or tres == "(null)":
        return 0
    total = 0
    for item in tres.split(","):
        item = item.strip()
        match = re.match(r"^(?:gres[:/])?gpu(?:[:/][A-Za-z0-9_.]+)*?[:=](\d+)$", item)
        if match:
            total += int(match.group(1))
        elif re.match(r"^(?:gres[:/])?gpu$", item):
            total += 1
    return total


@dataclass
class JobRecord:
    """One job as seen by `scontrol show job -o`."""

    job_id: str
    name: str
    rule: str | None
    partition: str
    account: str
    state: str
    exit_code: str
    requested_gpus: int
    allocated_gpus: int
    cpus: int | None
    mem_mb: int | None
    time_limit: str
    fields: dict = field(repr=False, default_factory=dict)

    @classmethod
    def from_fields(cls, fields: dict) -> "JobRecord":
        comment = fields.get("Comment", "")
        rule = None
        match = re.match(r"^(?:rule|group)_(.+?)(?:_wildcards_.*)?$", comment or "")
        if match:
            rule = match.group(1)
        requested = max(
            _gpu_count(fields.get("TresPerJob")),
            _gpu_count(fields.get("TresPerNode")),
            _gpu_count(fields.get("TresPerTask")),
        )
        # JOB_GRES (scontrol -d) is what the job got, e.g. 'gpu:1' (TRES lacks gres/gpu
        # without slurmdbd: AccountingStorageTRES=gres/gpu makes slurmctld refuse to start)
        allocated = _gpu_count(fields.get("JOB_GRES"))
        try:
            cpus = int(fields.get("NumCPUs", ""))
        except ValueError:
            cpus = None
        mem = _parse_mem_mb(fields.get("MinMemoryNode"))
        if mem is None:  # --mem-per-cpu jobs
            per_cpu = _parse_mem_mb(fields.get("MinMemoryCPU"))
            if per_cpu is not None:
                mem = per_cpu * (cpus or 1)
        return cls(
            job_id=fields.get("JobId", ""),
            name=fields.get("JobName", ""),
            rule=rule,
            partition=fields.get("Partition", ""),
            account=fields.get("Account", ""),
            state=fields.get("JobState", ""),
            exit_code=fields.get("ExitCode", ""),
            requested_gpus=requested,
            allocated_gpus=allocated,
            cpus=cpus,
            mem_mb=mem,
            time_limit=fields.get("TimeLimit", ""),
            fields=fields,
        )


def parse_scontrol_oneliner(line: str) -> dict:
    """Parse one line of `scontrol show job -o` (KEY=VALUE pairs; values may contain spaces)."""
    fields = {}
    # keys are words that may contain ':' or '/' ('AllocNode:Sid', 'Socks/Node', 'CPUs/Task')
    matches = list(re.finditer(r"(?:^|\s)([A-Za-z][A-Za-z0-9_/:]*)=", line))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        fields[match.group(1)] = line[match.end() : end].strip()
    return fields


def render_profile(
    profile_dir: str | os.PathLike,
    dest_dir: str | os.PathLike,
    *,
    default_resources: dict | None = None,
    set_resources: dict | None = None,
    options: dict | None = None,
    partitions: dict | None = None,
) -> Path:
    """Write `dest_dir/config.yaml`: the profile with some values overridden, beside a copy of the profile folder's
    other files (its `slurm-partition-config` file, which Snakemake finds relative to the profile).

    default_resources: {resource: value or None (= delete)}
    set_resources: {rule: {resource: value or None}}, or {rule: None} to delete a rule's entry
    options: {top-level key: value or None}
    partitions: {partition name in the profile's partition file: the name to use instead}
    Returns dest_dir (pass it to --profile).
    """
    source = Path(profile_dir)
    source_file = source / "config.yaml" if source.is_dir() else source
    profile = yaml.safe_load(source_file.read_text()) or {}

    def merge(target: dict, updates: dict) -> dict:
        for key, value in updates.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
        return target

    if default_resources:
        profile["default-resources"] = merge(dict(profile.get("default-resources") or {}), default_resources)
    if set_resources:
        current = {rule: dict(res or {}) for rule, res in (profile.get("set-resources") or {}).items()}
        for rule, updates in set_resources.items():
            if updates is None:
                current.pop(rule, None)
            else:
                current[rule] = merge(current.get(rule, {}), updates)
        profile["set-resources"] = current
    if options:
        merge(profile, options)

    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        for path in source.iterdir():
            if path.is_file() and path != source_file:
                shutil.copy(path, dest / path.name)
    if partitions:
        partition_file = dest / profile["slurm-partition-config"]
        listed = yaml.safe_load(partition_file.read_text())
        listed["partitions"] = {partitions.get(name, name): limits for name, limits in listed["partitions"].items()}
        partition_file.write_text(yaml.safe_dump(listed, sort_keys=False))
    (dest / "config.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return dest


class LocalSlurmCluster:
    """A single-node Slurm cluster on 127.0.0.1 with partitions `cpu` (default) and `gpu`."""

    def __init__(
        self,
        base_dir: str | os.PathLike | None = None,
        *,
        cpus: int = 16,
        memory_mb: int = 262144,
        gpus: int = 2,
        cpu_partition: str = "cpu",
        gpu_partition: str = "gpu",
        min_job_age: int = 3600,
        init_seconds_before_status_checks: int = 2,
        install: bool = True,
    ):
        if gpus > len(FAKE_GPU_FILES):
            raise ValueError(f"at most {len(FAKE_GPU_FILES)} fake GPUs are supported")
        self._owns_base_dir = base_dir is None
        self.base_dir = Path(base_dir) if base_dir else None
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.gpus = gpus
        self.cpu_partition = cpu_partition
        self.gpu_partition = gpu_partition
        self.min_job_age = min_job_age
        self.init_seconds_before_status_checks = init_seconds_before_status_checks
        self.install = install
        self.hostname = socket.gethostname().split(".")[0]
        self.cluster_name = "lctest"
        self.timings: dict[str, float] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._started = False

    # ------------------------------------------------------------------ checks / install
    @staticmethod
    def missing_packages() -> list[str]:
        return sorted({pkg for binary, pkg in BINARIES.items() if _which(binary) is None})

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """(True, "") if start() can be expected to work here, else (False, reason). Installs nothing."""
        if platform.system() != "Linux":
            return False, f"a local SLURM cluster needs Linux, this is {platform.system()}"
        if os.geteuid() != 0:
            return False, "a local SLURM cluster needs root (daemons, munge user, package install)"
        missing = cls.missing_packages()
        if missing and not shutil.which("apt-get"):
            return False, f"Slurm packages missing ({', '.join(missing)}) and no apt-get to install them"
        try:
            pwd.getpwnam("munge")
        except KeyError:
            if not missing:
                return False, "munged is installed but there is no 'munge' user"
        return True, ""

    def ensure_installed(self) -> float:
        """Install the packages that are missing; return seconds spent (0 when all present)."""
        missing = self.missing_packages()
        if not missing:
            return 0.0
        if not self.install:
            raise SlurmClusterUnavailable(f"Slurm packages missing ({', '.join(missing)}) and install=False")
        if not shutil.which("apt-get"):
            raise SlurmClusterUnavailable(f"Slurm packages missing ({', '.join(missing)}) and no apt-get")
        start = time.monotonic()
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        command = ["apt-get", "install", "-y", "-q", *PACKAGES]
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            # stale package lists are the usual cause
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, text=True)
            result = subprocess.run(command, env=env, capture_output=True, text=True)
        if result.returncode != 0 or self.missing_packages():
            raise SlurmClusterUnavailable(
                "could not install Slurm packages with apt-get "
                f"(rc={result.returncode}): {result.stderr.strip()[-2000:]}"
            )
        return time.monotonic() - start

    # ------------------------------------------------------------------ config
    @property
    def conf_dir(self) -> Path:
        return self.base_dir / "etc"

    @property
    def slurm_conf(self) -> Path:
        return self.conf_dir / "slurm.conf"

    @property
    def bin_dir(self) -> Path:
        return self.base_dir / "bin"

    @property
    def log_dir(self) -> Path:
        return self.base_dir / "log"

    def _write_configs(self) -> None:
        base = self.base_dir
        munge_user = pwd.getpwnam("munge")
        for sub in ("etc", "log", "state", "spool", "run"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        # munged runs as user munge and is picky: its dirs must be owned by it and not
        # writable by others; every parent must be traversable.
        os.chmod(base, 0o755)
        self.munge_dir = base / "munge"
        self.munge_dir.mkdir(exist_ok=True)
        os.chown(self.munge_dir, munge_user.pw_uid, munge_user.pw_gid)
        os.chmod(self.munge_dir, 0o755)
        self.munge_socket = self.munge_dir / "munge.socket"

        self.ctld_port = _free_port()
        self.slurmd_port = _free_port()
        while self.slurmd_port == self.ctld_port:
            self.slurmd_port = _free_port()

        gres = f" Gres=gpu:{self.gpus}" if self.gpus else ""
        node = (f"NodeName={self.hostname} NodeAddr=127.0.0.1 NodeHostname={self.hostname} CPUs={self.cpus} "
                f"RealMemory={self.memory_mb}{gres} State=UNKNOWN")
        conf = f"""\
# generated by tests/slurm_cluster.py -- throw-away single-node test cluster
ClusterName={self.cluster_name}
SlurmctldHost={self.hostname}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={base / 'state'}
SlurmdSpoolDir={base / 'spool'}
SlurmctldPidFile={base / 'run' / 'slurmctld.pid'}
SlurmdPidFile={base / 'run' / 'slurmd.pid'}
SlurmctldLogFile={self.log_dir / 'slurmctld.log'}
SlurmdLogFile={self.log_dir / 'slurmd.log'}
SlurmctldDebug=info
SlurmdDebug=info
# no systemd/cgroups in a container/VM: track processes by parent PID, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# jobs without --mem would otherwise take the whole node
DefMemPerCPU=1000
# no slurmdbd: sacct does not work; squeue shows finished jobs for MinJobAge seconds
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge={self.min_job_age}
ReturnToService=2
InactiveLimit=0
KillWait=5
SlurmdTimeout=60
SlurmctldTimeout=60
# the node advertises the configured (not the real) CPUs/memory
SlurmdParameters=config_overrides
GresTypes=gpu
{node}
PartitionName={self.cpu_partition} Nodes={self.hostname} Default=YES MaxTime=INFINITE State=UP
PartitionName={self.gpu_partition} Nodes={self.hostname} Default=NO MaxTime=INFINITE State=UP
"""
        self.slurm_conf.write_text(conf)
        gres_lines = [f"NodeName={self.hostname} Name=gpu File={FAKE_GPU_FILES[i]}" for i in range(self.gpus)]
        (self.conf_dir / "gres.conf").write_text("\n".join(gres_lines) + "\n")

        # The slurm-jobstep plugin removes SLURM_CONF (with every SLURM_* variable) from the
        # environment of the `srun` it runs inside each job; srun then looks only at
        # /etc/slurm/slurm.conf and /run/slurm/conf/slurm.conf and fails ("Could not establish a
        # configuration source"). Rather than writing to those system paths (and talking to a
        # real cluster configured there), a shim first on the jobs' PATH points srun back here.
        real_srun = _which("srun")
        if real_srun:
            shim = self.bin_dir / "srun"
            self.bin_dir.mkdir(exist_ok=True)
            shim.write_text(f'#!/bin/sh\nSLURM_CONF={self.slurm_conf}\nexport SLURM_CONF\nexec {real_srun} "$@"\n')
            shim.chmod(0o755)

    # ------------------------------------------------------------------ lifecycle
    def env(self, base: dict | None = None) -> dict:
        env = dict(os.environ if base is None else base)
        for key in list(env):
            # variables of an enclosing Slurm job would confuse sbatch and the plugin
            if key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")):
                del env[key]
        if self.base_dir is None:
            raise SlurmClusterError("env() before start(): the cluster has no configuration yet")
        env["SLURM_CONF"] = str(self.slurm_conf)
        path = env.get("PATH", "")
        for directory in ("/usr/sbin", "/usr/bin"):
            if directory not in path.split(":"):
                path = f"{path}:{directory}" if path else directory
        env["PATH"] = f"{self.bin_dir}:{path}"
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(list(args), env=self.env(), capture_output=True, text=True, check=check, timeout=timeout)

    def _spawn(self, name: str, argv: list[str], *, user: str | None = None) -> None:
        log = open(self.log_dir / f"{name}.out", "ab")
        kwargs = {}
        if user:
            entry = pwd.getpwnam(user)
            kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
        self._procs[name] = subprocess.Popen(
            argv,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.base_dir,
            **kwargs,
        )
        log.close()

    def _ensure_munge_key(self) -> Path:
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            mungekey = _which("mungekey")
            if mungekey:
                subprocess.run([mungekey, "--create", "--keyfile", str(key)], check=True, capture_output=True)
            else:
                key.write_bytes(os.urandom(1024))
        entry = pwd.getpwnam("munge")
        os.chown(key, entry.pw_uid, entry.pw_gid)
        os.chmod(key, 0o600)
        return key

    def start(self, timeout: float = 60) -> "LocalSlurmCluster":
        if self._started:
            return self
        ok, reason = self.available()
        if not ok:
            raise SlurmClusterUnavailable(reason)
        self.timings["install_s"] = self.ensure_installed()
        begin = time.monotonic()
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="lct-slurm-"))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._write_configs()
        self._started = True
        try:
            key = self._ensure_munge_key()
            self._spawn(
                "munged",
                [
                    _which("munged"), "-F", "--force",
                    f"--key-file={key}",
                    f"--socket={self.munge_socket}",
                    f"--pid-file={self.munge_dir / 'munged.pid'}",
                    f"--log-file={self.munge_dir / 'munged.log'}",
                    f"--seed-file={self.munge_dir / 'munged.seed'}",
                ],
                user="munge",
            )
            self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")
            self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i", "-f", str(self.slurm_conf)])
            self._wait(self._ctld_up, timeout, "slurmctld (scontrol ping)")
            self._spawn("slurmd", [_which("slurmd"), "-D", "-N", self.hostname, "-f", str(self.slurm_conf)])
            self._wait(self._node_idle, timeout, "an idle node in sinfo")
        except BaseException:
            self.stop()
            raise
        self.timings["startup_s"] = time.monotonic() - begin
        return self

    def _check_daemons(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise SlurmClusterError(f"{name} exited with {proc.returncode}\n{self.logs()}")

    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_daemons()
            if predicate():
                return
            time.sleep(0.2)
        raise SlurmClusterError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    def _ctld_up(self) -> bool:
        result = self.run("scontrol", "ping", check=False)
        return result.returncode == 0 and "UP" in result.stdout

    def _node_idle(self) -> bool:
        result = self.run("sinfo", "--noheader", "-o", "%T", "-n", self.hostname, check=False)
        states = result.stdout.split()
        return result.returncode == 0 and bool(states) and all(s.startswith("idle") for s in states)

    def logs(self, tail: int = 40) -> str:
        parts = []
        if self.base_dir is None:
            return ""
        for path in sorted(self.log_dir.glob("*")) + sorted(getattr(self, "munge_dir", self.base_dir).glob("*.log")):
            try:
                lines = path.read_text(errors="replace").splitlines()[-tail:]
            except OSError:
                continue
            parts.append(f"--- {path} ---\n" + "\n".join(lines))
        return "\n".join(parts)

    def stop(self) -> None:
        """Cancel remaining jobs, then end the daemons and everything left in their sessions, by PID.

        Each daemon is started in a session of its own, and slurmstepd (which daemonizes, so it is
        no child of slurmd) and the job processes stay in slurmd's session: that is how leftovers
        are found without matching process names.
        """
        if not self._procs:
            return
        ctld = self._procs.get("slurmctld")
        if ctld is not None and ctld.poll() is None:
            try:
                self.run("scancel", "--user", "root", check=False, timeout=10)
                self.wait_for_no_active_jobs(timeout=20)
            except (subprocess.TimeoutExpired, SlurmClusterError):
                pass
        sessions = {proc.pid for proc in self._procs.values()}
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        leftovers = _session_members(sessions)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in leftovers) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._procs.clear()
        self._started = False

    def cleanup(self) -> None:
        """stop(), then delete the temporary directory if this object created it."""
        self.stop()
        if self._owns_base_dir and self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> "LocalSlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.cleanup()

    # ------------------------------------------------------------------ helpers for tests
    def snakemake_cli_args(self) -> list[str]:
        return [
            "--slurm-status-command", "squeue",
            "--slurm-init-seconds-before-status-checks", str(self.init_seconds_before_status_checks),
            "--seconds-between-status-checks", "2",
        ]

    def job_records(self, job_ids=None) -> list[JobRecord]:
        result = self.run("scontrol", "show", "job", "--details", "--oneliner", check=False)
        if result.returncode != 0:
            if "No jobs in the system" in (result.stdout + result.stderr):
                return []
            raise SlurmClusterError(f"scontrol show job failed: {result.stderr}")
        records = [
            JobRecord.from_fields(parse_scontrol_oneliner(line))
            for line in result.stdout.splitlines()
            if line.strip().startswith("JobId=")
        ]
        if job_ids is not None:
            wanted = {str(j) for j in job_ids}
            records = [r for r in records if r.job_id in wanted]
        return sorted(records, key=lambda r: int(r.job_id) if r.job_id.isdigit() else 0)

    def jobs_by_rule(self, records=None) -> dict[str, list[JobRecord]]:
        grouped: dict[str, list[JobRecord]] = {}
        for record in self.job_records() if records is None else records:
            grouped.setdefault(record.rule or "?", []).append(record)
        return grouped

    def wait_for_no_active_jobs(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            active = [r for r in self.job_records() if r.state in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")]
            if not active:
                return
            time.sleep(0.5)
        raise SlurmClusterError(f"jobs still active after {timeout} s: {active}")


# ---------------------------------------------------------------------- running snakemake
def run_snakemake(
    args: list[str], *, cwd, env: dict | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run `python -m snakemake ARGS` (this interpreter) in `cwd`; stdout+stderr in `.stdout`.

    On timeout the whole process group (Snakemake and what it spawned) is killed and the
    output so far is attached to the raised `subprocess.TimeoutExpired` (a lost job would
    otherwise hang the test forever).
    """
    import sys

    command = [sys.executable, "-m", "snakemake", *args]
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        raise subprocess.TimeoutExpired(command, timeout, output=out) from err
    return subprocess.CompletedProcess(command, proc.returncode, out, None)


def parse_job_stats(output: str) -> dict[str, int]:
    """The first "Job stats:" table of Snakemake's output as {rule: count} (without 'total')."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return {}
    stats = {}
    for line in lines[start + 3 :]:  # skip header and dashes
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] == "total":
            break
        stats[parts[0]] = int(parts[1])
    return stats


# ---------------------------------------------------------------------- pytest integration
def ci_requires_slurm() -> bool:
    """True on CI (env CI=true/1/yes): there a cluster that cannot be brought up is a failure."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip the test with `reason`, except as root on CI, where the SLURM tests must run."""
    import pytest

    if ci_requires_slurm() and os.geteuid() == 0:
        pytest.fail(f"SLURM test cluster unavailable on CI (CI=true, root): {reason}", pytrace=False)
    pytest.skip(f"SLURM test cluster unavailable: {reason}")


# One cluster per process, however many test modules import the fixture: pytest registers an
# imported fixture once per module namespace, so two modules doing `from slurm_cluster import
# slurm_cluster` would otherwise each bring up (and keep, until the session ends) a cluster.
_SHARED: dict = {"cluster": None, "users": 0}


def _make_fixture():
    import pytest

    @pytest.fixture(scope="session")
    def slurm_cluster():
        """A started LocalSlurmCluster shared by the session; skips (fails on CI) where impossible.

        Import it into a test module (`from slurm_cluster import slurm_cluster`), or into
        tests/conftest.py; every module that imports it gets the same cluster (reference-counted,
        cleaned up when the last user's session fixture is torn down).
        """
        if _SHARED["cluster"] is None:
            ok, reason = LocalSlurmCluster.available()
            if not ok:
                skip_or_fail(reason)
            cluster = LocalSlurmCluster()
            try:
                cluster.start()
            except SlurmClusterUnavailable as error:
                cluster.cleanup()
                skip_or_fail(str(error))
            _SHARED["cluster"] = cluster
        cluster = _SHARED["cluster"]
        _SHARED["users"] += 1
        try:
            yield cluster
        finally:
            _SHARED["users"] -= 1
            if _SHARED["users"] == 0:
                _SHARED["cluster"] = None
                cluster.cleanup()

    return slurm_cluster


try:
    slurm_cluster = _make_fixture()
except ImportError:  # used outside pytest
    pass
