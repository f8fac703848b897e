"""The workflow's glue: config checks and schema, job logging, atomic files, provenance, errors."""
