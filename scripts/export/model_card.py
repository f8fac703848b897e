"""Rule model_card: model_card.md beside an exported variant."""

import numpy as np
import pandas as pd

from landcover_transfer.data.splits import Splits
from landcover_transfer.export.model_card import accuracy_section, model_card, robustness_section
from landcover_transfer.workflow.atomic_files import atomic_path, read_json
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    input, params = snakemake.input, snakemake.params
    metrics, splits = read_json(input.metrics), Splits.load(input.splits)
    accuracy = accuracy_section(metrics, np.load(input.proba_evaluation), splits, pd.read_csv(input.report),
                                params.confidence_level)
    card = model_card(params.variant, metrics, accuracy, robustness_section([read_json(p) for p in input.attacks]),
                      read_json(input.export), splits)
    with atomic_path(snakemake.output.card) as tmp:
        tmp.write_text(card)
    return f"model card of {params.variant}: {snakemake.output.card}"


run_script(snakemake, main)
