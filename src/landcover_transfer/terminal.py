"""A compact terminal for a long local run (`make demo`): Snakemake's output with two lines per job.

    snakemake ... 2>&1 | python -m landcover_transfer.terminal

Each job keeps its start line ("Job 12: Fine-tuning ...", so a long job shows what runs) and its result line,
which gets the progress in front ("[9/82] finetune ...: evaluation accuracy 0.6778 ... [143 s]"). Snakemake's
scheduling lines around them (timestamps, "Select jobs to execute...", "Execute 1 jobs...", "Finished jobid: ...",
blank lines) are dropped; everything else (the job plan, warnings, errors, a failed job's log) passes through
unchanged. Snakemake's whole output stays in `.snakemake/log/`.
"""

from __future__ import annotations

import re
import signal
import sys
from typing import Iterable, Iterator

SCHEDULING = re.compile(r"^(\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\]|Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\."
                        r"|Finished jobid: \d+ \(Rule: \S+\)|\s*)$")
RESULT = re.compile(r"^ {4}(\S.* \[\d+ s\])$")  # a job's result line, with its seconds (workflow.run_script)
PROGRESS = re.compile(r"^(\d+) of (\d+) steps \(\d+%\) done$")


def compact(lines: Iterable[str]) -> Iterator[str]:
    """Snakemake's output lines (newlines optional) as the compact terminal shows them."""
    results: list[str] = []  # result lines of jobs whose "steps done" line has not come yet
    for line in lines:
        line = line.rstrip("\n")
        if SCHEDULING.match(line):
            continue
        if match := RESULT.match(line):
            results.append(match[1])
        elif match := PROGRESS.match(line):
            step = f"[{match[1]}/{match[2]}]"
            yield f"{step} {results.pop(0)}" if results else f"{step} done"
        else:
            yield line
    yield from results  # a job that printed its result but whose end Snakemake did not report


def main() -> None:
    # Ctrl-C reaches Snakemake too: keep reading, so that what it prints while it stops is shown.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in compact(iter(sys.stdin.readline, "")):
        print(line, flush=True)


if __name__ == "__main__":
    main()
