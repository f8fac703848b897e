"""The study's classical models (config/config.yaml) learn from simple features; bad specs fail clearly."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from landcover_transfer.classical.estimators import build_model, fit_and_predict, seed_accuracies
from landcover_transfer.data.synthetic import make_synthetic
from landcover_transfer.workflow.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

MODELS = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["classical"]["models"]


def hand_features(x: np.ndarray) -> np.ndarray:
    """Per-channel means and standard deviations plus the image averaged down to 8x8 pixels (no TensorFlow)."""
    x = x.astype(np.float32) / 255.0
    n, size = len(x), x.shape[1]
    cell = size // 8
    pooled = x[:, :cell * 8, :cell * 8].reshape(n, 8, cell, 8, cell, 3).mean(axis=(2, 4))
    return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2)), pooled.reshape(n, -1)], axis=1)


@pytest.fixture(scope="module")
def data():
    dataset = make_synthetic(40, 20)
    n_classes = len(dataset.class_names)
    x_train, x_val = hand_features(dataset.x_train), hand_features(dataset.x_val)
    # Selection split: every 5th training image, the rest fit the model (like protocol honest).
    selection = np.arange(len(x_train)) % 5 == 0
    return {"x_fit": x_train[~selection], "y_fit": dataset.y_train[~selection], "x_selection": x_train[selection],
            "y_selection": dataset.y_train[selection], "x_evaluation": x_val, "y_evaluation": dataset.y_val,
            "n_classes": n_classes}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_study_model_beats_chance_with_valid_probabilities(name, data):
    n_classes = data["n_classes"]
    proba_selection, proba_evaluation, fit_time = fit_and_predict(
        MODELS[name], data["x_fit"], data["y_fit"], (data["x_selection"], data["y_selection"]), data["x_evaluation"],
        n_classes,
        n_jobs=1)  # one thread: all cores made XGBoost 15x slower on a busy 2-core machine
    for proba, x in ((proba_selection, data["x_selection"]), (proba_evaluation, data["x_evaluation"])):
        assert proba.shape == (len(x), n_classes)
        assert np.all(proba >= 0) and np.all(np.isfinite(proba))
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    accuracy = float(np.mean(proba_evaluation.argmax(axis=1) == data["y_evaluation"]))
    selection_accuracy = float(np.mean(proba_selection.argmax(axis=1) == data["y_selection"]))
    chance = 1 / n_classes
    print(f"{name}: evaluation accuracy {accuracy:.3f}, selection accuracy {selection_accuracy:.3f} "
          f"(chance {chance:.3f}), fit {fit_time:.2f} s")
    assert accuracy > 2 * chance, f"{name}: accuracy {accuracy:.3f} is not well above chance {chance:.3f}"
    assert fit_time >= 0


def test_probabilities_have_a_column_for_a_class_missing_from_the_fit_data(data):
    absent = data["n_classes"] - 1
    keep = data["y_fit"] != absent
    spec = MODELS["logistic_regression"]
    _, proba, _ = fit_and_predict(spec, data["x_fit"][keep], data["y_fit"][keep],
                                  (data["x_selection"], data["y_selection"]), data["x_evaluation"], data["n_classes"])
    assert proba.shape == (len(data["x_evaluation"]), data["n_classes"])
    assert np.all(proba[:, absent] == 0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)


def test_scale_adds_a_standard_scaler():
    scaled = build_model({"estimator": "LogisticRegression", "scale": True, "params": {}})
    plain = build_model({"estimator": "LogisticRegression", "params": {}})
    assert [type(step).__name__ for step in scaled] == ["StandardScaler", "LogisticRegression"]
    assert [type(step).__name__ for step in plain] == ["LogisticRegression"]


def test_unknown_estimator_raises_config_error_naming_it():
    with pytest.raises(ConfigError, match="KNeighborsClassifier"):
        build_model({"estimator": "KNeighborsClassifier", "params": {}})


@pytest.mark.parametrize("estimator", ["LogisticRegression", "RandomForestClassifier", "LinearSVC", "SVC"])
def test_bad_params_raise_config_error_naming_the_parameter(estimator):
    with pytest.raises(ConfigError, match="n_trees_please"):
        build_model({"estimator": estimator, "params": {"n_trees_please": 3}})


@pytest.mark.parametrize("estimator, params, message", [
    ("LogisticRegression", {"C": -1},
     "The 'C' parameter of LogisticRegression must be a float in the range (0.0, inf]. Got -1 instead."),
    ("LinearSVC", {"C": -1},  # inside CalibratedClassifierCV: checked too
     "The 'C' parameter of LinearSVC must be a float in the range (0.0, inf). Got -1 instead."),
    ("RandomForestClassifier", {"n_estimators": 0},
     "The 'n_estimators' parameter of RandomForestClassifier must be an int in the range [1, inf). Got 0 instead."),
])
def test_out_of_range_params_are_one_line_naming_the_config_entry_before_fitting(estimator, params, message):
    with pytest.raises(ConfigError) as error:
        build_model({"estimator": estimator, "params": params}, name="mine")
    assert str(error.value) == f"classical.models.mine.params: {message}"


def test_xgboost_params_are_checked_when_fitting_starts(data):
    spec = {"estimator": "XGBClassifier", "params": {"max_depth": -1, "n_estimators": 2}}
    with pytest.raises(ConfigError) as error:
        fit_and_predict(spec, data["x_fit"], data["y_fit"], (data["x_selection"], data["y_selection"]),
                        data["x_evaluation"], data["n_classes"], name="xgboost")
    assert str(error.value) == ("classical.models.xgboost.params: "
                                "value -1 for Parameter max_depth should be greater equal to 0")


def test_xgboost_logs_its_progress_with_an_eta(caplog):
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 4)), rng.integers(0, 3, 60)
    with caplog.at_level("INFO", logger="landcover_transfer.classical.estimators"):
        build_model({"estimator": "XGBClassifier", "params": {"n_estimators": 20, "max_depth": 2}}, 1).fit(x, y)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("xgboost: ")]
    assert len(lines) == 10  # every 10% of the rounds
    assert lines[0].startswith("xgboost: 2/20 rounds, ") and lines[-1].startswith("xgboost: 20/20 rounds, ")
    assert all(re.search(r"rounds/s, ETA \d+ s$", line) for line in lines)


def test_xgboost_early_stopping_stops_on_the_selection_split_and_predicts_with_the_best_round(data):
    from landcover_transfer.classical.estimators import fit_stopping_on_selection

    spec = {"estimator": "XGBClassifier", "scale": True,  # the scaler must see the selection images too
            "params": {"n_estimators": 400, "learning_rate": 0.5, "max_depth": 3, "early_stopping_rounds": 5,
                       "max_bin": 64, "n_jobs": 1, "random_state": 0}}
    model = build_model(spec)
    fit_stopping_on_selection(model, data["x_fit"], data["y_fit"], data["x_selection"], data["y_selection"])
    booster = model.steps[-1][1]
    assert booster.best_iteration < 399, "400 rounds at rate 0.5 on 360 images should stop early"
    assert len(booster.evals_result()["validation_0"]["mlogloss"]) == booster.best_iteration + 6
    _, proba, _ = fit_and_predict(spec, data["x_fit"], data["y_fit"], (data["x_selection"], data["y_selection"]),
                                  data["x_evaluation"], data["n_classes"])
    assert float(np.mean(proba.argmax(axis=1) == data["y_evaluation"])) > 2 / data["n_classes"]


def test_early_stopping_without_selection_labels_is_a_config_error(data):
    spec = {"estimator": "XGBClassifier", "params": {"n_estimators": 5, "early_stopping_rounds": 2}}
    with pytest.raises(ConfigError, match="early_stopping_rounds"):
        fit_and_predict(spec, data["x_fit"], data["y_fit"], (data["x_selection"], None), data["x_evaluation"],
                        data["n_classes"])


def test_seed_accuracies_refit_a_model_with_randomness_once_per_seed_and_skip_one_without(data):
    forest = {"estimator": "RandomForestClassifier", "params": {"n_estimators": 5, "max_depth": 3, "random_state": 0}}
    arrays = (data["x_fit"], data["y_fit"], (data["x_selection"], data["y_selection"]), data["x_evaluation"],
              data["y_evaluation"])
    accuracies = seed_accuracies(forest, [42, 7, 3], *arrays)
    assert list(accuracies) == ["42", "7", "3"]
    seven = {**forest, "params": {**forest["params"], "random_state": 7}}
    by_hand = build_model(seven).fit(data["x_fit"], data["y_fit"])
    assert accuracies["7"] == np.mean(by_hand.predict(data["x_evaluation"]) == data["y_evaluation"])
    assert len(set(accuracies.values())) > 1  # five shallow trees: the seed matters
    assert seed_accuracies(MODELS["logistic_regression"], [42, 7], *arrays) == {}
