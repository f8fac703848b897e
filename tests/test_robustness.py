"""attacks.py and robustness/evaluation.py: ART attacks on the logits of tiny models (under 2,000 parameters, 16x16
images), the attack subset, safe-mode loading, the ensemble surrogate and adversarial training."""

import os
from itertools import pairwise

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from landcover_transfer import attacks  # noqa: E402
from landcover_transfer.data.synthetic import make_synthetic  # noqa: E402
from landcover_transfer.finetune import adversarial_training, models  # noqa: E402
from landcover_transfer.robustness import evaluation as robustness  # noqa: E402
from landcover_transfer.workflow.errors import ConfigError, DataError  # noqa: E402

SIZE, N_CLASSES = 16, 3
SETTINGS = {"eps": [0, 1, 2, 4], "batch_size": 64, "seed": 0,
            "pgd": {"steps": 10, "relative_step_size": 0.25, "random_start": True}}


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def tiny_cnn(size: int = SIZE, n_classes: int = N_CLASSES) -> keras.Model:
    """Raw 0..255 pixels in, a `logits` layer and a softmax `predictions` output, like the workflow's models."""
    inputs = keras.Input((size, size, 3), name="pixels")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    x = keras.layers.Dense(8, activation="relu")(keras.layers.Flatten()(x))
    logits = keras.layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))


def linear_softmax(size: int, n_classes: int) -> keras.Model:
    inputs = keras.Input((size, size, 3))
    flat = keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs))
    logits = keras.layers.Dense(n_classes, name="logits")(flat)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(logits))


def synthetic_data(per_class: int = 60, size: int = SIZE):
    data = make_synthetic(per_class, per_class, image_size=size, seed=0,
                          class_names=["Forest", "Highway", "Residential"])
    return data.x_train.astype("float32"), data.y_train, data.x_val.astype("float32"), data.y_val


def trained_cnn(model=None, epochs: int = 15):
    x, y, x_val, y_val = synthetic_data()
    model = model or tiny_cnn()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model, x_val, y_val


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    return trained_cnn()


def test_eps_zero_is_the_clean_accuracy_and_perturbations_stay_within_eps_and_pixel_range(trained):
    model, x, y = trained
    clean = float(np.mean(model.predict(x, verbose=0).argmax(1) == y))
    for attack in attacks.ATTACKS:
        result, adversarial = robustness.evaluate_attack(attacks.logits_model(model), attack, x, y, SETTINGS)
        assert result["eps"] == SETTINGS["eps"]
        assert result["accuracy"][0] == clean
        for eps, largest in zip(result["eps"], result["max_perturbation"], strict=True):
            assert largest <= eps + 1e-4
        assert result["max_perturbation"][-1] > 3.9  # the attack did use its budget
        assert all(images.min() >= 0 and images.max() <= 255 for images in adversarial)
        assert np.array_equal(adversarial[0], x)
        assert all(later <= earlier for earlier, later in pairwise(result["accuracy"]))
        # the kept images reproduce the numbers
        for accuracy, images in zip(result["accuracy"], adversarial, strict=True):
            assert accuracy == np.mean(model.predict(images, verbose=0).argmax(1) == y)
        assert result["accuracy"][-1] < clean  # eps 4 hurts an undefended model


def test_fgsm_on_a_linear_softmax_model_is_the_analytic_step():
    model = linear_softmax(4, N_CLASSES)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (20, 4, 4, 3)).astype("float32")
    y = rng.integers(0, N_CLASSES, 20)
    kernel, bias = (w.astype("float64") for w in model.get_layer("logits").get_weights())
    flat = x.reshape(len(x), -1).astype("float64") / 255
    logits = flat @ kernel + bias
    proba = np.exp(logits - logits.max(1, keepdims=True))
    proba /= proba.sum(1, keepdims=True)
    # d CE / d x = (softmax - onehot) W^T / 255
    gradient = ((proba - np.eye(N_CLASSES)[y]) @ kernel.T / 255).reshape(x.shape)
    expected = np.clip(x + 2.0 * np.sign(gradient), 0, 255)
    classifier = attacks.art_classifier(attacks.logits_model(model))
    crafted = attacks.make_attack("fgsm", classifier, 2.0, SETTINGS).generate(x=x, y=y)
    np.testing.assert_allclose(crafted, expected, rtol=0, atol=1e-4)


def test_pgd_random_start_is_the_same_for_the_same_seed_only():
    model = linear_softmax(4, N_CLASSES)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (20, 4, 4, 3)).astype("float32")
    y = rng.integers(0, N_CLASSES, 20)
    classifier = attacks.art_classifier(attacks.logits_model(model))
    # one short step: the end point still depends on the start (many steps reach the same corner on a linear model)
    settings = {**SETTINGS, "pgd": {"steps": 1, "relative_step_size": 0.1, "random_start": True}}
    first, again = (attacks.perturb("pgd", classifier, x, y, 2.0, settings) for _ in range(2))
    np.random.seed(99)  # whatever ran before does not matter: the attack seeds its own start
    other_seed = attacks.perturb("pgd", classifier, x, y, 2.0, {**settings, "seed": 1})
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other_seed)
    assert np.abs(first - x).max() <= 2.0 + 1e-4


def test_pgd_is_at_least_as_strong_as_fgsm(trained):
    model, x, y = trained
    logits = attacks.logits_model(model)
    fgsm, _ = robustness.evaluate_attack(logits, "fgsm", x, y, SETTINGS)
    pgd, _ = robustness.evaluate_attack(logits, "pgd", x, y, SETTINGS)
    assert all(p <= f for p, f in zip(pgd["accuracy"], fgsm["accuracy"], strict=True))
    assert pgd["accuracy"][-1] < fgsm["accuracy"][0]


def test_attacks_sharing_one_classifier_find_what_each_finds_alone(trained):
    """The attack job wraps a model once for all its attacks: the results are those of a wrapper per attack."""
    model, x, y = trained
    logits = attacks.logits_model(model)
    shared = attacks.art_classifier(logits)
    for attack in ("fgsm", "pgd"):
        alone, alone_images = robustness.evaluate_attack(logits, attack, x, y, SETTINGS)
        together, together_images = robustness.evaluate_attack(logits, attack, x, y, SETTINGS, shared)
        assert together["accuracy"] == alone["accuracy"], attack
        np.testing.assert_allclose(together_images[-1], alone_images[-1], atol=1e-3)


def test_autoattack_is_at_least_as_strong_as_pgd_and_stays_within_eps(trained):
    model, x, y = trained
    logits = attacks.logits_model(model)
    settings = {**SETTINGS, "autoattack": {"steps": 10, "restarts": 1, "square_queries": 50}}
    pgd, _ = robustness.evaluate_attack(logits, "pgd", x, y, settings)
    auto, adversarial = robustness.evaluate_attack(logits, "autoattack", x, y, settings)
    assert auto["accuracy"][0] == pgd["accuracy"][0]  # eps 0: the clean accuracy
    assert all(a <= p for a, p in zip(auto["accuracy"], pgd["accuracy"], strict=True))
    assert auto["accuracy"][-1] < auto["accuracy"][0]
    assert all(largest <= eps + 1e-4 for largest, eps in zip(auto["max_perturbation"], auto["eps"], strict=True))
    assert all(images.min() >= 0 and images.max() <= 255 for images in adversarial)


def test_attack_subset_is_stratified_seeded_and_checked():
    y = np.repeat(np.arange(4), [50, 30, 20, 100])
    subset = robustness.attack_subset(y, 40, seed=3)
    assert len(subset) == 40 and np.all(np.diff(subset) > 0)
    assert np.array_equal(np.bincount(y[subset]), [10, 6, 4, 20])
    assert np.array_equal(subset, robustness.attack_subset(y, 40, seed=3))
    assert np.array_equal(robustness.attack_subset(y, 1000, seed=3), np.arange(len(y)))
    with pytest.raises(ConfigError, match="subset_size 3"):
        robustness.attack_subset(y, 3, seed=3)


def test_the_loader_refuses_a_lambda_layer_and_keeps_logits_reachable(tmp_path):
    model = tiny_cnn()
    model.save(tmp_path / "plain.keras")
    reloaded = models.load_model(tmp_path / "plain.keras")
    x = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.softmax(attacks.logits_model(reloaded).predict(x, verbose=0)),
                               model.predict(x, verbose=0), atol=1e-6)
    inputs = keras.Input((SIZE, SIZE, 3))
    with_lambda = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    with_lambda.save(tmp_path / "lambda.keras")
    with pytest.raises(DataError, match="safe mode"):
        models.load_model(tmp_path / "lambda.keras")


def test_a_model_without_logits_layer_is_one_clear_error():
    inputs = keras.Input((4,))
    with pytest.raises(DataError, match="no 'logits' layer"):
        attacks.logits_model(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs)))


def test_ensemble_surrogate_softmax_is_the_mean_of_member_probabilities():
    members = [tiny_cnn(), tiny_cnn()]
    x = np.random.default_rng(1).uniform(0, 255, (6, SIZE, SIZE, 3)).astype("float32")
    surrogate = robustness.ensemble_logits_model(members)
    mean = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(surrogate.predict(x, verbose=0))),
                               mean, atol=1e-6)


def test_adversarial_policy_entry_is_split_from_keras_layers_and_checked():
    flip = {"RandomFlip": {"mode": "horizontal"}}
    assert adversarial_training.split_adversarial([flip]) == ([flip], None)
    layers, settings = adversarial_training.split_adversarial([flip, {"Adversarial": {"attack": "fgsm", "eps": 4}}])
    assert layers == [flip] and settings["attack"] == "fgsm" and settings["eps"] == 4
    with pytest.raises(ConfigError, match="unknown key"):
        adversarial_training.split_adversarial([{"Adversarial": {"epsilon": 4}}])
    with pytest.raises(ConfigError, match="attack must be one of"):
        adversarial_training.split_adversarial([{"Adversarial": {"attack": "cw"}}])



def test_the_augmentation_probe_checks_an_adversarial_entry_and_probes_only_keras_layers():
    from landcover_transfer.finetune.pipeline import probe_augmentations

    flip = {"RandomFlip": {"mode": "horizontal"}}
    assert probe_augmentations({"fgsm": [{"Adversarial": {"attack": "fgsm", "eps": 4}}, flip]}) == []
    problems = probe_augmentations({"typo": [{"Adversarial": {"epsilon": 4}}]})
    assert len(problems) == 1 and problems[0].startswith("augmentations.typo: Adversarial augmentation: unknown key")

def test_fgsm_training_makes_a_tiny_model_more_robust_at_eps_4():
    results = {}
    for policy in ("none", "fgsm"):
        keras.utils.set_random_seed(0)
        adversarial = {**adversarial_training._ADVERSARIAL_DEFAULTS, "attack": "fgsm", "eps": 4, "fraction": 0.5}
        model = adversarial_training.with_adversarial_training(tiny_cnn(), adversarial if policy == "fgsm" else None)
        model, x, y = trained_cnn(model)
        result, _ = robustness.evaluate_attack(attacks.logits_model(model), "pgd", x, y,
                                               {**SETTINGS, "eps": [0, 4]})
        results[policy] = result["accuracy"]
    assert results["fgsm"][1] > results["none"][1] + 0.1, results


def test_train_variant_with_an_adversarial_policy_saves_a_plain_safe_model(tmp_path):
    import yaml

    from landcover_transfer.finetune import resume, training

    config = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "config.yaml").read_text())
    arch = {**config["architectures"]["mobilenet_v2"], "kwargs": {"alpha": 0.35}}
    x, y, x_sel, y_sel = synthetic_data(per_class=8, size=32)
    arrays = {"x_fit": x, "y_fit": y, "x_selection": x_sel, "y_selection": y_sel}
    with resume.claim(tmp_path / "work", poll_seconds=0.1) as folder:
        folder.adopt(resume.fingerprint({"policy": "pgd"}, files={}))
        model, history, _ = training.train_variant(
            arrays, arch=arch, strategy=config["strategies"]["last_block"],
            augmentation=config["augmentations"]["pgd"],
            training={**config["training"], "epochs": 1, "batch_size": 8, "image_size": 32},
            schedules=config["schedules"], head=config["head"], n_classes=N_CLASSES, weights=None, resume=folder)
    assert isinstance(model, adversarial_training.AdversarialTraining) and len(history) == 1
    training.save_inference_model(model, tmp_path / "model.keras")
    reloaded = models.load_model(tmp_path / "model.keras")
    assert type(reloaded) is not adversarial_training.AdversarialTraining
    np.testing.assert_allclose(reloaded.predict(arrays["x_selection"], verbose=0),
                               model.predict(arrays["x_selection"], verbose=0), atol=1e-5)


def test_transfer_matrix_diagonal_is_the_white_box_accuracy_and_ensembles_combine_members(trained):
    model, x, y = trained
    keras.utils.set_random_seed(1)
    other, _, _ = trained_cnn(epochs=5)
    models = {"a": model, "b": other}
    settings = {**SETTINGS, "eps": [0, 2]}
    white_box, sources = {}, {}
    for name, m in models.items():
        result, adversarial = robustness.evaluate_attack(attacks.logits_model(m), "pgd", x, y, settings)
        white_box[name], sources[name] = result["accuracy"][1], adversarial[1]
    predictors = {name: robustness.keras_predictor(m, 64) for name, m in models.items()}
    x_sel, y_sel = x[:30], y[:30]
    combine = robustness.ensemble_combiner(["soft_vote", "majority_vote"], ["a", "b"],
                                           [m.predict(x_sel, verbose=0) for m in models.values()], y_sel, y, {})
    matrix = robustness.transfer_matrix({"clean": x, **sources}, predictors, y, combine)
    assert list(matrix.index) == ["clean", "a", "b"]
    assert list(matrix.columns) == ["a", "b", "ensemble/soft_vote", "ensemble/majority_vote"]
    for name in models:
        assert matrix.loc[name, name] == white_box[name]
    soft = np.mean([m.predict(sources["a"], verbose=0) for m in models.values()], axis=0)
    assert matrix.loc["a", "ensemble/soft_vote"] == np.mean(soft.argmax(1) == y)
    assert matrix.loc["clean", "a"] > matrix.loc["a", "a"]


def test_a_rebuilt_extractor_must_reproduce_the_stored_features():
    from landcover_transfer.classical.features import extract

    extractor = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    x, *_ = synthetic_data(per_class=4)
    stored = extract(extractor, x, 8, "stored")
    robustness.check_extractor(extractor, x, stored, batch_size=5)  # other batches, same features
    with pytest.raises(DataError, match="forcerun extract_features"):
        robustness.check_extractor(extractor, x, stored * 1.01 + 1, batch_size=5)


def test_classical_models_share_one_feature_extraction_per_source():
    from sklearn.linear_model import LogisticRegression

    from landcover_transfer.classical.features import extract

    extractor = keras.Sequential([keras.Input((SIZE, SIZE, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()])
    x, y, x_val, _ = synthetic_data(per_class=4)
    estimator = LogisticRegression(max_iter=200).fit(extract(extractor, x, 8, "fit"), y)
    features = robustness.shared_features(extractor, batch_size=8)
    assert features(x_val) is features(x_val)  # the second model of a source reuses the extraction
    proba = robustness.classical_predictor(features, estimator, N_CLASSES)(x_val)
    np.testing.assert_allclose(proba, estimator.predict_proba(extract(extractor, x_val, 8, "val")), atol=1e-6)


def test_result_id_names_a_training_by_its_variant():
    assert robustness.result_id("results/finetune/vgg16/last_block/none/seed42/model.keras") == \
        "finetune/vgg16/last_block/none"
    assert robustness.result_id("results/classical/svm/proba_selection.npy") == "classical/svm"
