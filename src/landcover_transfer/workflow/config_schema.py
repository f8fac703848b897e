"""The config checked against its JSON schema, with one short line per problem; Snakemake's validation fills in the
defaults. Used by the workflow when it starts (it needs jsonschema and Snakemake, which the jobs' environments lack).
"""

from __future__ import annotations

import difflib
import os
import textwrap
from pathlib import Path

import jsonschema
import yaml
from jsonschema.exceptions import best_match
from snakemake.utils import validate

from landcover_transfer.workflow.config import FROM_COMMAND_LINE, raise_if_any


def validate_config(config: dict, schema_path: str | os.PathLike) -> None:
    """Validate `config` against the JSON schema and fill in its defaults; ConfigError with one line per problem.

    Snakemake's own `validate` prints the whole schema with each error (~1,100 lines for one typo).
    """
    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = jsonschema.Draft202012Validator(schema).iter_errors(config)
    # best_match of a single error descends into oneOf/anyOf alternatives to the one that went furthest.
    raise_if_any([line for error in errors for line in _describe(best_match([error]))])
    validate(config, str(schema_path))  # fills in the defaults; the config is valid by now


def _describe(error) -> list[str]:
    """One short line per problem of a jsonschema ValidationError, naming the config key."""
    where = ".".join(map(str, error.absolute_path))
    if error.validator == "additionalProperties" and error.validator_value is False:
        known = list(error.schema.get("properties", {}))
        return [_unknown_key(where, key, error.instance[key], known) for key in error.instance if key not in known]
    message = textwrap.shorten(error.message, 200, placeholder=" ...")
    if error.validator == "type" and isinstance(error.instance, str):
        message += FROM_COMMAND_LINE
    return [f"{where or 'the configuration'}: {message}"]


def _unknown_key(parent: str, key: str, value, known: list[str]) -> str:
    prefix = f"{parent}." if parent else ""
    head, *rest = key.split(".")
    if rest and head in known:
        nested = value
        for part in reversed(rest):
            nested = {part: nested}
        written = yaml.safe_dump({head: nested}, default_flow_style=True, width=1000).strip()[1:-1]
        return (f"unknown config key '{prefix}{key}': a dotted name is not a path; nest it instead, "
                f"`{written}` in a file passed with --configfile (docs/configuration.md, 'Changing settings')")
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{prefix}{close[0]}'?" if close else f"valid keys here: {', '.join(known)}"
    return f"unknown config key '{prefix}{key}': {hint}"
