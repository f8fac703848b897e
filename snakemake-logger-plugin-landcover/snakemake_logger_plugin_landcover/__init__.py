"""The terminal of a long local run (`make demo`): two lines per job, built from Snakemake's job events.

    snakemake --logger landcover ...

A job's start shows its rule's message, else its rule and wildcards ("Job 12: Fine-tuning vgg16/last_block/none
(seed 42)"); its end shows the run's progress, the job's result and its time ("[9/82] finetune
vgg16/last_block/none/seed42: evaluation accuracy 0.8519, best epoch 7 of 9 [41 s]"). A logger plugin sees
Snakemake's events, not what a job prints, so the result is the line the job wrote to its log after the marker
`Result: ` (the workflow's scripts do, through landcover_transfer's `run_script`); a job without one shows its
description and "done". A failed job shows an error line with its log files, and with --show-failed-logs their
contents.

Snakemake's other records (the job plan, warnings, errors, shell commands with --printshellcmds) are shown as
Snakemake formats them, and its filter keeps the meaning of --quiet. Its free-form notes are shown until the first
job starts ("Building DAG of jobs...", "Nothing to be done ..."), then left out: during the run they are scheduling
chatter ("Select jobs to execute..." before every job). Snakemake still writes its whole output, those notes
included, to .snakemake/log/.

This replaces a filter that matched Snakemake's printed lines with regular expressions, which a reworded line broke
silently: here only the records' fields are read (LogEvent and each event's `extra`, as in Snakemake 9.27).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Iterator, NamedTuple

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

RESULT_MARKER = "Result: "  # before the result line a job writes to its first log (landcover_transfer run_script)


class Job(NamedTuple):
    description: str
    logs: list[str]
    started: float  # time of its JOB_INFO record: when Snakemake hands it to the executor


class LogHandler(LogHandlerBase):
    writes_to_stream = True  # so Snakemake leaves out its own terminal handler
    writes_to_file = False
    has_filter = False  # Snakemake's filter: --quiet, --printshellcmds and --verbose keep their meaning
    has_formatter = False  # Snakemake's formatter, for the records shown as Snakemake writes them
    needs_rulegraph = False

    def __post_init__(self) -> None:
        self.stream = sys.stdout if self.common_settings.stdout else sys.stderr  # stdout in a dry run, as Snakemake
        self.jobs: dict[int, Job] = {}
        self.finished: list[str] = []  # jobs that ended, shown with the progress record that follows
        self.jobs_started = False

    def emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_INFO:
            job = self.jobs[record.jobid] = Job(describe(record), record.log, record.created)
            self.write(f"Job {record.jobid}: {job.description}")
        elif event == LogEvent.JOB_STARTED:
            self.jobs_started = True
        elif event == LogEvent.JOB_FINISHED:
            if job := self.jobs.pop(record.job_id, None):  # None with --quiet rules, which leaves out JOB_INFO
                self.finished.append(f"{result(job)} [{record.created - job.started:.0f} s]")
        elif event == LogEvent.PROGRESS:
            for line in self.finished or ["done"]:
                self.write(f"[{record.done}/{record.total}] {line}")
            self.finished.clear()
        elif event == LogEvent.JOB_ERROR:
            self.write("\n".join(self.error_lines(record)))
        elif not (event is None and record.levelno == logging.INFO and self.jobs_started):
            # all else but Snakemake's free-form notes during the run: its scheduling chatter, in .snakemake/log/
            self.write(self.format(record))

    def error_lines(self, record: logging.LogRecord) -> Iterator[str]:
        job = self.jobs.pop(record.jobid, None)  # None: the job failed before Snakemake announced it
        if job is None:
            yield f"Error in job {record.jobid}: {record.rule_name}"
        else:
            yield f"Error in job {record.jobid}: {job.description} [{record.created - job.started:.0f} s]"
        if record.rule_msg:  # here the error's message, not the rule's
            yield f"    {record.rule_msg}"
        for path in record.log:
            yield f"    log: {path}"
            if self.common_settings.show_failed_logs:
                yield from (f"    | {line}" for line in read_text(path).splitlines())

    def write(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


def describe(job_info: logging.LogRecord) -> str:
    """A job as its lines name it: its rule's message (which names the wildcards that matter), else the rule and
    its wildcards."""
    if job_info.rule_msg:
        return job_info.rule_msg
    wildcards = ", ".join(f"{name}={value}" for name, value in job_info.wildcards.items())
    return f"{job_info.rule_name} ({wildcards})" if wildcards else job_info.rule_name


def result(job: Job) -> str:
    """A finished job's result: the last line its first log holds after the result marker, else its description
    and "done"."""
    lines = read_text(job.logs[0]).splitlines() if job.logs else []
    results = [line.split(RESULT_MARKER, 1)[1] for line in lines if RESULT_MARKER in line]
    return results[-1] if results else f"{job.description}: done"


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError as error:  # a log the job never wrote, an output removed since: say so, the run goes on
        return f"({error.strerror}: {path})"
