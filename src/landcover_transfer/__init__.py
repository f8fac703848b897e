"""Transfer learning for Sentinel-2 land-cover classification: the library behind the Snakemake workflow."""

from .workflow import send_output_to_log, snakemake_job

# In a job, output goes to the rule's log from the script's first import of this package on: importing TensorFlow
# writes start-up lines from C++ (the oneDNN and CPU-feature notices on CPUs with AVX-512 VNNI or AMX) before any
# setting can silence them, and they would fill the terminal, which shows one result line per job.
if (_job := snakemake_job()) is not None:
    send_output_to_log(_job)
