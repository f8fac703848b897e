from landcover_transfer.aggregate.usage import usage_per_job, usage_per_rule
from landcover_transfer.reporting.plots import plot_usage
from landcover_transfer.reporting.tables import write_table
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    files = {rule: list(snakemake.input[rule]) for rule in snakemake.params.gpus if rule in snakemake.input.keys()}
    jobs = usage_per_job(files, snakemake.params.gpus)
    per_rule = usage_per_rule(jobs)
    write_table(jobs, snakemake.output.jobs, snakemake.output.jobs_md, snakemake.output.jobs_html,
                title="Every benchmarked job: wall and CPU time, peak memory, GPU-hours (GPUs requested x wall time)")
    unmeasured = list(snakemake.params.unmeasured)
    note = (f"; not counted: {len(unmeasured)} finished job(s) without a benchmark file ({', '.join(unmeasured)})"
            if unmeasured else "")
    write_table(per_rule, snakemake.output.rules, snakemake.output.rules_md, snakemake.output.rules_html,
                title=f"What the study cost, per rule{note}", floatfmt=".3f")
    plot_usage(per_rule, snakemake.output.plot)
    total = per_rule.iloc[-1]
    return (f"usage: {int(total['jobs'])} jobs, {total['wall_hours']:.2f} wall-hours, "
            f"{total['cpu_hours']:.2f} CPU-hours, {total['gpu_hours']:.2f} GPU-hours")


run_script(snakemake, main)
