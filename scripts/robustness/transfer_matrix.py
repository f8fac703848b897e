from pathlib import Path

from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

import numpy as np

from landcover_transfer.classical.features import configured_extractor
from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.finetune.models import load_model
from landcover_transfer.finetune.training import configure_runtime
from landcover_transfer.robustness.evaluation import (
    attack_set,
    check_extractor,
    classical_predictor,
    ensemble_combiner,
    finetune_members,
    fit_classical,
    keras_predictor,
    result_id,
    shared_features,
    transfer_matrix,
)
from landcover_transfer.workflow.atomic_files import atomic_path
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    params, inputs = snakemake.params, snakemake.input
    settings, batch_size = params.robustness, params.robustness["batch_size"]
    configure_runtime({"mixed_precision": False, "jit_compile": False}, snakemake.threads)
    splits = Splits.load(inputs.splits)
    x, y, index = attack_set(load_configured_dataset(inputs.dataset, params.data), splits, settings)
    n_classes = len(splits.class_names)
    sources = {"clean": x, **{Path(path).parent.parent.relative_to("results/robustness").as_posix(): np.load(path)
                              for path in inputs.adversarial}}
    predictors = {result_id(path): keras_predictor(load_model(path), batch_size) for path in inputs.models}
    extractor = configured_extractor(params.extractor, x.shape[1], params.features, params.weights)
    features = np.load(inputs.features)
    check_extractor(extractor, x, features["val"][index], batch_size)
    estimators = fit_classical(params.classical, features, splits.fit_index, snakemake.threads)
    features_of = shared_features(extractor, batch_size)
    predictors.update({f"classical/{name}": classical_predictor(features_of, estimator, n_classes)
                       for name, estimator in estimators.items()})
    members = (finetune_members(inputs.metrics, params.ensemble["members"])
               + [f"classical/{name}" for name in params.ensemble["include_classical"]])
    folders = {result_id(path): path for path in inputs.proba_selection}
    probas_selection = [np.load(folders[name]) for name in members]
    combine = ensemble_combiner(params.ensemble["methods"], members, probas_selection, splits.y_selection, y,
                                params.ensemble)
    matrix = transfer_matrix(sources, predictors, y, combine)
    with atomic_path(snakemake.output.csv) as tmp:
        matrix.to_csv(tmp, float_format="%.4f")
    return f"transfer matrix: {matrix.shape[0]} sources x {matrix.shape[1]} targets"


run_script(snakemake, main)
