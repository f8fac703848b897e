"""Ensembles: voting with the documented tie-break, stacking, member choice, diversity."""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping

import numpy as np
import pytest

from landcover_transfer.ensemble.diversity import diversity, diversity_report
from landcover_transfer.ensemble.members import load_candidates, member_trainings, select_members
from landcover_transfer.ensemble.methods import ensemble_proba_selection, run_ensemble
from landcover_transfer.ensemble.stacking import stacking
from landcover_transfer.ensemble.voting import majority_vote_proba, soft_vote, weighted_vote
from landcover_transfer.workflow.errors import ConfigError


def rows(*probabilities):
    """One member's (N, C) array from its rows."""
    return np.array(probabilities, dtype=float)


def majority_vote(probas):
    """The majority-vote labels (N,) as `run_ensemble` predicts them: argmax of the vote shares."""
    return majority_vote_proba(probas).argmax(axis=1)


# --------------------------------------------------------------------------- majority vote


def test_majority_vote_clear_majority():
    a = rows([0.9, 0.1, 0.0], [0.2, 0.7, 0.1])
    b = rows([0.6, 0.3, 0.1], [0.1, 0.8, 0.1])
    c = rows([0.1, 0.1, 0.8], [0.1, 0.1, 0.8])  # confident but outvoted
    assert majority_vote([a, b, c]).tolist() == [0, 1]


def test_majority_vote_three_way_tie_goes_to_highest_mean_probability():
    a = rows([0.50, 0.30, 0.20])  # votes 0
    b = rows([0.10, 0.60, 0.30])  # votes 1
    c = rows([0.10, 0.35, 0.55])  # votes 2
    # means: 0.2333, 0.4167, 0.35 -> class 1
    assert majority_vote([a, b, c]).tolist() == [1]
    # the rule does not depend on member order
    assert majority_vote([c, a, b]).tolist() == [1]


def test_majority_vote_two_two_tie():
    a = rows([0.6, 0.1, 0.3])  # votes 0
    b = rows([0.5, 0.2, 0.3])  # votes 0
    c = rows([0.1, 0.2, 0.7])  # votes 2
    d = rows([0.2, 0.3, 0.5])  # votes 2
    # tied classes 0 and 2; mean probability 0.35 vs 0.45 -> class 2
    assert majority_vote([a, b, c, d]).tolist() == [2]


def test_tie_break_only_among_tied_classes_then_lowest_index():
    # class 1 has the highest mean probability but no votes: it must not win
    a = rows([0.40, 0.39, 0.21])  # votes 0
    b = rows([0.20, 0.39, 0.41])  # votes 2
    assert majority_vote([a, b]).tolist() == [2]
    # tied votes and equal mean probability -> lowest class index
    c = rows([0.6, 0.0, 0.4])
    d = rows([0.0, 0.4, 0.6])  # votes 2 ; class 0 mean 0.3, class 2 mean 0.5 -> 2
    e = rows([0.4, 0.0, 0.6])  # with c: means 0.5 / 0.5 -> class 0
    assert majority_vote([c, d]).tolist() == [2]
    assert majority_vote([c, e]).tolist() == [0]
    assert majority_vote([e, c]).tolist() == [0]


def test_majority_vote_proba_is_vote_share_with_consistent_argmax():
    rng = np.random.default_rng(1)
    members = [rng.dirichlet(np.ones(4), size=200) for _ in range(4)]  # many 2-2 and 1-1-1-1 ties
    shares = majority_vote_proba(members)
    votes = np.stack([(m.argmax(axis=1)[:, None] == np.arange(4)) for m in members]).sum(axis=0)
    # the documented rule: most votes; ties -> highest mean probability, then lowest class index
    mean = np.mean(members, axis=0)
    labels = np.where(votes == votes.max(axis=1, keepdims=True), mean, -np.inf).argmax(axis=1)
    assert shares.shape == (200, 4)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0)
    assert (shares.argmax(axis=1) == labels).all()
    assert (shares.astype(np.float32).argmax(axis=1) == labels).all()  # survives float32 storage
    np.testing.assert_allclose(shares, votes / 4, atol=1e-3)


# --------------------------------------------------------------------------- soft / weighted


def test_soft_vote_is_mean_and_can_differ_from_majority():
    a = rows([0.55, 0.45])
    b = rows([0.55, 0.45])
    c = rows([0.00, 1.00])
    np.testing.assert_allclose(soft_vote([a, b, c]), [[1.1 / 3, 1.9 / 3]])
    assert majority_vote([a, b, c]).tolist() == [0]
    assert soft_vote([a, b, c]).argmax(axis=1).tolist() == [1]


def test_weighted_vote_heavy_member_overrules_two_light_ones():
    heavy = rows([0.1, 0.9, 0.0])  # votes 1
    light1 = rows([0.8, 0.2, 0.0])  # votes 0
    light2 = rows([0.7, 0.1, 0.2])  # votes 0
    members = [heavy, light1, light2]
    proba = weighted_vote(members, [0.9, 0.2, 0.2])
    assert proba.argmax(axis=1).tolist() == [1]
    np.testing.assert_allclose(proba[0], [0.4 / 1.3, 0.9 / 1.3, 0.0], atol=1e-3)
    # weights are normalised: scale does not matter
    np.testing.assert_allclose(weighted_vote(members, [9, 2, 2]), proba)
    # equal weights: plain majority
    assert weighted_vote(members, [1, 1, 1]).argmax(axis=1).tolist() == [0]


def test_weighted_vote_ties_use_the_same_rule():
    a = rows([0.6, 0.0, 0.4])  # votes 0
    b = rows([0.0, 0.4, 0.6])  # votes 2
    assert weighted_vote([a, b], [0.5, 0.5]).argmax(axis=1).tolist() == [2]  # mean 0.3 vs 0.5


@pytest.mark.parametrize("weights", [[1.0], [1.0, -1.0], [0.0, 0.0], [1.0, np.nan]])
def test_weighted_vote_rejects_bad_weights(weights):
    with pytest.raises(ConfigError):
        weighted_vote([rows([1.0, 0.0]), rows([0.0, 1.0])], weights)


# --------------------------------------------------------------------------- stacking


def permuted_problem(n, seed, n_classes=3):
    """Member 0: weak and noisy; member 1: confident but with labels shifted by one."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    noisy = rng.dirichlet(np.ones(n_classes), size=n)
    shifted = np.full((n, n_classes), 0.05)
    shifted[np.arange(n), (y + 1) % n_classes] = 0.9
    shifted /= shifted.sum(axis=1, keepdims=True)
    return [noisy, shifted], y


def test_stacking_learns_a_label_permutation():
    sel, y_sel = permuted_problem(300, seed=0)
    ev, y_ev = permuted_problem(300, seed=1)
    assert np.mean(soft_vote(ev).argmax(axis=1) == y_ev) < 0.5
    proba = stacking(sel, y_sel, ev)
    assert proba.shape == (300, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(proba.argmax(axis=1) == y_ev) == 1.0
    forest = stacking(sel, y_sel, ev, estimator="RandomForestClassifier", params={"n_estimators": 20})
    assert np.mean(forest.argmax(axis=1) == y_ev) > 0.95


def test_stacking_cannot_see_evaluation_labels():
    parameters = inspect.signature(stacking).parameters
    assert [p for p in parameters if p.startswith("y")] == ["y_selection"]
    sel, y_sel = permuted_problem(120, seed=0)
    ev, y_ev = permuted_problem(80, seed=1)
    corrupted = (y_ev + 1) % 3
    p1, _, info1 = run_ensemble("stacking", ["a", "b"], sel, ev, y_sel, y_ev, {})
    p2, _, info2 = run_ensemble("stacking", ["a", "b"], sel, ev, y_sel, corrupted, {})
    np.testing.assert_array_equal(p1, p2)
    assert info1["selection_accuracy"] == info2["selection_accuracy"]
    assert info1["diversity"]["ensemble_accuracy"] != info2["diversity"]["ensemble_accuracy"]


def test_stacking_covers_classes_missing_from_selection_labels():
    sel, y_sel = permuted_problem(150, seed=0, n_classes=4)
    keep = y_sel != 2
    ev, _ = permuted_problem(40, seed=1, n_classes=4)
    proba = stacking([m[keep] for m in sel], y_sel[keep], ev)
    assert proba.shape == (40, 4)
    assert np.all(proba[:, 2] == 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_stacking_unknown_estimator_is_a_config_error():
    sel, y_sel = permuted_problem(30, seed=0)
    with pytest.raises(ConfigError):
        stacking(sel, y_sel, sel, estimator="Oracle")
    with pytest.raises(ConfigError):
        stacking(sel, y_sel, sel, params={"no_such_parameter": 1})


# --------------------------------------------------------------------------- member choice


class SelectionOnly(Mapping):
    """A metrics dict that fails the test if anything but architecture/selection_accuracy is read."""

    def __init__(self, data):
        self.data = data

    def __getitem__(self, key):
        assert key in ("architecture", "selection_accuracy"), f"select_members read {key!r}"
        return self.data[key]

    def __iter__(self):
        raise AssertionError("select_members iterated over the metrics")

    def __len__(self):
        return len(self.data)


def test_best_per_architecture_uses_only_selection_accuracy():
    raw = {
        "vgg16/last_two_blocks/standard": {"architecture": "vgg16", "selection_accuracy": 0.95, "accuracy": 0.90},
        "vgg16/head_only/none": {"architecture": "vgg16", "selection_accuracy": 0.94, "accuracy": 0.99},
        "resnet50/head_only/none": {"architecture": "resnet50", "selection_accuracy": 0.91, "accuracy": 0.80},
        "resnet50/full/none": {"architecture": "resnet50", "selection_accuracy": 0.91, "accuracy": 0.99},
        "resnet50/full/standard": {"architecture": "resnet50", "selection_accuracy": 0.89, "accuracy": 0.995},
    }
    expected = ["resnet50/full/none", "vgg16/last_two_blocks/standard"]  # tie -> lexicographically first
    assert select_members(raw, "best_per_architecture") == expected
    guarded = {k: SelectionOnly(v) for k, v in raw.items()}
    assert select_members(guarded, "best_per_architecture") == expected
    # what evaluation accuracy would have picked is different
    by_eval = {}
    for vid, m in raw.items():
        if m["architecture"] not in by_eval or m["accuracy"] > raw[by_eval[m["architecture"]]]["accuracy"]:
            by_eval[m["architecture"]] = vid
    assert sorted(by_eval.values()) != expected


def test_explicit_member_list():
    candidates = {"a/x/y": {"architecture": "a", "selection_accuracy": 0.5},
                  "b/x/y": {"architecture": "b", "selection_accuracy": 0.6}}
    assert select_members(candidates, ["b/x/y", "a/x/y"]) == ["b/x/y", "a/x/y"]
    with pytest.raises(ConfigError, match="c/x/y"):
        select_members(candidates, ["a/x/y", "c/x/y"])
    with pytest.raises(ConfigError):
        select_members(candidates, ["a/x/y", "a/x/y"])
    with pytest.raises(ConfigError):
        select_members(candidates, [])
    with pytest.raises(ConfigError):
        select_members(candidates, "best_overall")


def write_metrics(folder, variant: str, seed: int, selection_accuracy: float) -> str:
    architecture, strategy, augmentation = variant.split("/")
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({
        "architecture": architecture, "strategy": strategy, "augmentation": augmentation, "seed": seed,
        "selection_accuracy": selection_accuracy}))
    return str(folder / "metrics.json")


def test_one_seed_per_variant_votes_under_the_variant_id_and_several_seeds_each_under_its_own(tmp_path):
    one = [write_metrics(tmp_path / f"one/{v}", v, 42, acc) for v, acc in (("a/x/y", 0.5), ("b/x/y", 0.6))]
    assert member_trainings(load_candidates(one), ["b/x/y", "a/x/y"]) == {
        "finetune/b/x/y": tmp_path / "one/b/x/y", "finetune/a/x/y": tmp_path / "one/a/x/y"}

    # ensemble.seeds: all; the member is chosen on its first seed's selection accuracy (a/x/y: 0.7 against 0.6)
    accuracies = {("a/x/y", 42): 0.7, ("a/x/y", 7): 0.1, ("a/x/z", 42): 0.6, ("a/x/z", 7): 0.9}
    seeds = [write_metrics(tmp_path / f"all/{v}/seed{seed}", v, seed, acc) for (v, seed), acc in accuracies.items()]
    candidates = load_candidates(seeds)
    assert candidates["a/x/z"]["selection_accuracy"] == 0.6
    assert member_trainings(candidates, "best_per_architecture") == {
        "finetune/a/x/y/seed42": tmp_path / "all/a/x/y/seed42", "finetune/a/x/y/seed7": tmp_path / "all/a/x/y/seed7"}
    assert list(member_trainings(candidates, ["a/x/z", "a/x/y"])) == [
        "finetune/a/x/z/seed42", "finetune/a/x/z/seed7", "finetune/a/x/y/seed42", "finetune/a/x/y/seed7"]


# --------------------------------------------------------------------------- diversity


def one_hot_ish(labels, n_classes=2):
    out = np.full((len(labels), n_classes), 0.2 / (n_classes - 1))
    out[np.arange(len(labels)), labels] = 0.8
    return out


def test_diversity_by_hand():
    y = np.array([0, 0, 1, 1])
    a = one_hot_ish([0, 0, 1, 1])  # all right
    b = one_hot_ish([0, 1, 1, 0])  # right at 0, 2
    c = one_hot_ish([1, 1, 1, 0])  # right at 2
    d = diversity([a, b, c], y, names=["A", "B", "C"])
    assert d["disagreement"] == {"A | B": 0.5, "A | C": 0.75, "B | C": 0.25}
    assert d["mean_disagreement"] == pytest.approx(0.5)
    assert d["double_fault"] == {"A | B": 0.0, "A | C": 0.0, "B | C": 0.5}
    assert d["mean_double_fault"] == pytest.approx(1 / 6)
    assert d["member_accuracy"] == {"A": 1.0, "B": 0.5, "C": 0.25}
    assert d["oracle_accuracy"] == 1.0

    ensemble = majority_vote([a, b, c])
    assert ensemble.tolist() == [0, 1, 1, 0]
    report = diversity_report(["A", "B", "C"], [a, b, c], y, ensemble)
    assert report["ensemble_accuracy"] == 0.5
    pm = report["per_member"]
    assert (pm["A"]["fix_rate"], pm["A"]["harm_rate"], pm["A"]["n_harmed"]) == (0.0, 0.5, 2)
    assert (pm["B"]["fix_rate"], pm["B"]["harm_rate"]) == (0.0, 0.0)
    assert pm["C"]["fix_rate"] == pytest.approx(1 / 3)
    assert (pm["C"]["n_fixed"], pm["C"]["n_member_wrong"], pm["C"]["harm_rate"]) == (1, 3, 0.0)
    # probabilities work as ensemble_pred too, and the report is JSON-serialisable
    assert diversity_report(["A", "B", "C"], [a, b, c], y, majority_vote_proba([a, b, c])) == report
    json.dumps(report)


def test_single_member_diversity():
    d = diversity([one_hot_ish([0, 1])], [0, 0], names=["only"])
    assert d["mean_disagreement"] == 0.0 and d["disagreement"] == {}


# --------------------------------------------------------------------------- dispatch


@pytest.mark.parametrize("method", ["majority_vote", "soft_vote", "weighted_vote", "stacking"])
def test_run_ensemble_every_method(method):
    sel, y_sel = permuted_problem(90, seed=0)
    ev, y_ev = permuted_problem(60, seed=1)
    proba, _, info = run_ensemble(method, ["noisy", "shifted"], sel, ev, y_sel, y_ev, {"stacking": {"seed": 3}})
    assert proba.shape == (60, 3)
    assert info["method"] == method and info["members"] == ["noisy", "shifted"]
    assert set(info["diversity"]["per_member"]) == {"noisy", "shifted"}
    assert 0.0 <= info["mean_disagreement"] <= 1.0
    json.dumps(info)
    if method == "weighted_vote":
        assert sum(info["weights"].values()) == pytest.approx(1.0)
        assert info["weights"]["shifted"] == 0.0  # the shifted member is never right on selection
    if method == "stacking":
        assert info["estimator"] == "LogisticRegression" and info["seed"] == 3
        assert info["selection_accuracy"] > 0.95  # out-of-fold, still learns the shift
    sel_proba = ensemble_proba_selection(method, sel, y_sel, {"stacking": {"seed": 3}})
    assert sel_proba.shape == (90, 3)


def test_run_ensemble_rejects_unknown_method_and_mismatched_members():
    sel, y_sel = permuted_problem(20, seed=0)
    with pytest.raises(ConfigError):
        run_ensemble("bagging", ["a", "b"], sel, sel, y_sel, y_sel, {})
    with pytest.raises(ConfigError):
        run_ensemble("soft_vote", ["a"], sel, sel, y_sel, y_sel, {})
