"""Transfer learning for Sentinel-2 land-cover classification: the library behind the Snakemake workflow."""
