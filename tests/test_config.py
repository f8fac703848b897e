"""The shipped configurations validate; the schema documents every key; bad configs fail clearly."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from landcover_transfer.workflow.config import (
    check_inputs,
    check_references,
    ensemble_seeds,
    prestaged_weights,
    trained_seeds,
)
from landcover_transfer.workflow.config_schema import validate_config
from landcover_transfer.workflow.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "config" / "tiny.yaml"

CONFIG = REPO / "config" / "config.yaml"
DEMO = REPO / "config" / "demo.yaml"
SCHEMA = REPO / "config" / "schema.yaml"
OVERLAYS = {"config": [], "demo": [DEMO], "tiny": [TINY_CONFIG]}


def load_yaml(path):
    return yaml.safe_load(path.read_text())


def merged_config(*overlays) -> dict:
    """config/config.yaml updated key by key by each overlay, as `--configfile overlay` does."""
    config = load_yaml(CONFIG)
    for overlay in overlays:
        update_config(config, load_yaml(overlay))
    return config


def valid_config(*overlays) -> dict:
    config = merged_config(*overlays)
    validate(config, str(SCHEMA))  # also fills in the schema's defaults, as rules/common.smk does
    return config


@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_shipped_configs_validate_and_reference_only_defined_names(name):
    config = valid_config(*OVERLAYS[name])
    check_references(config)
    check_inputs(config)
    # The overlay really was applied (a failure here means the merge emulation is wrong, not the config).
    for overlay in OVERLAYS[name]:
        assert config["data"]["source"] == load_yaml(overlay)["data"]["source"]


def test_tiny_config_is_a_subset_of_the_study_grid():
    study, tiny = valid_config(), valid_config(TINY_CONFIG)
    for axis in ("architectures", "strategies", "augmentations"):
        assert set(tiny["finetune"][axis]) <= set(study["finetune"][axis]), axis


def _schema_properties(node, path=""):
    """(dotted path, subschema) of every entry under a `properties` key, anywhere in the schema."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                for name, sub in value.items():
                    yield f"{path}.{name}".lstrip("."), sub
                    yield from _schema_properties(sub, f"{path}.{name}")
            else:
                child = path if key in ("additionalProperties", "items", "definitions") else f"{path}.{key}"
                yield from _schema_properties(value, child)
    elif isinstance(node, list):
        for item in node:
            yield from _schema_properties(item, path)


def test_every_schema_property_has_a_description():
    schema = load_yaml(SCHEMA)
    properties = list(_schema_properties(schema))
    assert len(properties) > 50, "the schema walk found too few properties; the walker is broken"
    undocumented = [path for path, sub in properties
                    if not (isinstance(sub, dict) and str(sub.get("description", "")).strip())]
    assert undocumented == []


def test_no_schema_keyword_is_null():
    """An unquoted comma in a flow-style description ends it: the rest becomes a keyword with a null value."""
    def null_keywords(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None and key != "default":
                    yield f"{path}.{key}"
                yield from null_keywords(value, f"{path}.{key}")
        elif isinstance(node, list):
            for item in node:
                yield from null_keywords(item, path)

    assert list(null_keywords(load_yaml(SCHEMA))) == []


def test_optional_top_level_sections_have_defaults():
    schema = load_yaml(SCHEMA)
    required = set(schema["required"])
    missing = [name for name, sub in schema["properties"].items()
               if sub.get("type") == "object" and name not in required and "default" not in sub]
    assert missing == []
    # Functionally: a config with only the required sections gets every other section from the schema.
    study = load_yaml(CONFIG)
    minimal = {name: copy.deepcopy(study[name]) for name in required}
    validate(minimal, str(SCHEMA))
    assert set(minimal) == set(schema["properties"])
    check_references(minimal)


def _set(config, dotted, value):
    *parents, last = dotted.split(".")
    node = config
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[last] = value


BAD_REFERENCES = [
    # (what to change, new value, the undefined name the error must show)
    ("finetune.architectures", ["vgg16", "vgg99"], "vgg99"),
    ("finetune.strategies", ["warp_speed"], "warp_speed"),
    ("finetune.augmentations", ["none", "kaleidoscope"], "kaleidoscope"),
    ("strategies.last_block.phases.0.schedule", "cosine_warmup", "cosine_warmup"),
    ("ensemble.members", ["vgg16/last_block/none", "vgg16/last_block/rot90"], "vgg16/last_block/rot90"),
    ("features.architecture", "alexnet", "alexnet"),
    ("ensemble.include_classical", ["knn"], "knn"),
    ("robustness.headline_eps", 3, "3"),
    ("robustness.attacks", ["fgsm"], "pgd"),
]


@pytest.mark.parametrize("dotted, value, bad_name", BAD_REFERENCES, ids=[b[2] for b in BAD_REFERENCES])
def test_undefined_names_raise_config_error_naming_them(dotted, value, bad_name):
    config = valid_config()
    _set(config, dotted, value)
    validate(config, str(SCHEMA))  # the schema cannot see these: only check_references can
    with pytest.raises(ConfigError) as error:
        check_references(config)
    assert bad_name in str(error.value)
    assert dotted.split(".")[0] in str(error.value)


def test_one_listed_member_is_an_ensemble_only_over_several_seeds():
    config = valid_config()
    config["ensemble"]["members"] = ["vgg16/last_block/none"]
    validate(config, str(SCHEMA))
    with pytest.raises(ConfigError, match="one member .* and one seed make no ensemble"):
        check_references(config)
    config["ensemble"]["seeds"] = "all"
    with pytest.raises(ConfigError, match="one seed make no ensemble"):  # all of one seed is still one
        check_references(config)
    config["finetune"]["seeds"] = [42, 43]
    check_references(config)


def test_listed_ensemble_seeds_vote_and_are_trained_beside_the_grids():
    config = valid_config()
    config["finetune"]["seeds"] = [42, 43]
    config["ensemble"].update(members=["vgg16/last_block/none"], seeds=[43, 44, 45])
    validate(config, str(SCHEMA))
    check_references(config)
    assert ensemble_seeds(config) == [43, 44, 45]
    assert trained_seeds(config) == [42, 43, 44, 45]
    config["ensemble"]["seeds"] = "all"
    assert ensemble_seeds(config) == trained_seeds(config) == [42, 43]
    for bad in ([], [43, 43], ["last"]):
        config["ensemble"]["seeds"] = bad
        with pytest.raises(WorkflowError):
            validate(config, str(SCHEMA))


def test_all_undefined_names_are_reported_at_once():
    config = valid_config()
    config["finetune"]["architectures"] = ["vgg99"]
    config["finetune"]["strategies"] = ["warp_speed"]
    with pytest.raises(ConfigError) as error:
        check_references(config)
    assert "vgg99" in str(error.value) and "warp_speed" in str(error.value)


SCHEMA_VIOLATIONS = [
    ("training.epochs", 0, "epochs"),
    ("trainig", {"epochs": 3}, "trainig"),  # unknown top-level key (a typo)
    ("classical.models.knn", {"estimator": "KNeighborsClassifier"}, "KNeighborsClassifier"),
    ("evaluation.protocol", "peeking", "peeking"),
    ("training.early_stopping.patience", 0, "patience"),
    ("training.early_stopping.monitor", "val_acc", "val_acc"),  # a typo: before any job, not a KeyError after
]


@pytest.mark.parametrize("dotted, value, shown", SCHEMA_VIOLATIONS, ids=[s[0] for s in SCHEMA_VIOLATIONS])
def test_schema_violations_fail_validation(dotted, value, shown):
    config = merged_config()
    _set(config, dotted, value)
    with pytest.raises(WorkflowError) as error:
        validate(config, str(SCHEMA))
    assert shown in str(error.value)


def test_snakemake_reports_an_unknown_architecture_without_a_traceback(tmp_path, run_snakemake):
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({
        "data": {"source": "synthetic"},
        "finetune": {"architectures": ["vgg99"], "strategies": ["last_block"], "augmentations": ["none"]},
    }))
    result = run_snakemake(tmp_path, "-n", "--configfile", TINY_CONFIG, override, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "vgg99" in output
    assert "Traceback (most recent call last)" not in output
    assert not (tmp_path / "results").exists()


# --- one short line per problem (validate_config), not Snakemake's schema dump ---------------------

SHORT_MESSAGES = [
    # a name becomes a folder and a wildcard (rules/common.smk GRID_NAME)
    ({"augmentations": {"flips/rotations": []}},
     "augmentations: 'flips/rotations' does not match '^[A-Za-z0-9_][A-Za-z0-9_.+-]*$'"),
    ({"trainig": {"epochs": 3}}, "unknown config key 'trainig': did you mean 'training'?"),
    ({"training": {"epoch": 3}}, "unknown config key 'training.epoch': did you mean 'training.epochs'?"),
    ({"architectures": {"vgg16": {"weight": "w.h5"}}},
     "unknown config key 'architectures.vgg16.weight': did you mean 'architectures.vgg16.weights'?"),
    ({"training.seed": 43},
     "unknown config key 'training.seed': a dotted name is not a path; nest it instead, `training: {seed: 43}` "
     "in a file passed with --configfile (docs/configuration.md, 'Changing settings')"),
    ({"colour": "red"}, "unknown config key 'colour': valid keys here: data, evaluation, weights, "
     "random_weights_policy, pretrain, features, classical, finetune, training, head, architectures, strategies, "
     "schedules, augmentations, ensemble, statistics, study_reference, robustness, predict, export, ablation, "
     "resources"),
    ({"training": {"seed": "43"}},  # what --config 'training={seed: 43}' gives
     "training.seed: '43' is not of type 'integer'; a value given inside a --config mapping arrives as text: "
     "set it in a file passed with --configfile (docs/configuration.md, 'Changing settings')"),
    ({"training": {"epochs": 0}}, "training.epochs: 0 is less than the minimum of 1"),
]


@pytest.mark.parametrize("overlay, line", SHORT_MESSAGES, ids=[m[1][:40] for m in SHORT_MESSAGES])
def test_validate_config_names_the_key_in_one_short_line(overlay, line):
    config = merged_config()
    update_config(config, overlay)
    with pytest.raises(ConfigError) as error:
        validate_config(config, SCHEMA)
    assert str(error.value) == f"invalid configuration:\n  {line}"


def test_validate_config_fills_in_the_defaults():
    config = merged_config()
    del config["training"]["early_stopping"]
    validate_config(config, SCHEMA)
    assert config["training"]["early_stopping"] == {"monitor": "val_accuracy", "patience": 5}
    assert config["data"]["eurosat"]["classes"][-1] == "SeaLake"


@pytest.mark.parametrize("overlay, line", [
    ({"data": {"eurosat": {"exclude_classes": ["Sealake"]}}},
     "data.eurosat.exclude_classes: 'Sealake' is not in data.eurosat.classes; did you mean 'SeaLake'?"),
    ({"weights": "null"},  # what --config weights=null gives
     "weights: 'null' is text, not null; a value given inside a --config mapping arrives as text: set it in a "
     "file passed with --configfile (docs/configuration.md, 'Changing settings')"),
    ({"architectures": {"vgg16": {"weights": "None"}}},
     "architectures.vgg16.weights: 'None' is text, not null; a value given inside a --config mapping arrives as "
     "text: set it in a file passed with --configfile (docs/configuration.md, 'Changing settings')"),
])
def test_check_inputs(overlay, line):
    config = valid_config()
    update_config(config, overlay)
    with pytest.raises(ConfigError) as error:
        check_inputs(config)
    assert str(error.value) == f"invalid configuration:\n  {line}"


def test_prestaged_weights_are_paths_only():
    config = valid_config()
    update_config(config, {"weights": None, "architectures": {"vgg16": {"weights": "w/vgg16.h5"},
                                                              "resnet50": {"weights": "imagenet"}}})
    assert [prestaged_weights(config, a) for a in ("vgg16", "resnet50", "mobilenet_v2")] == ["w/vgg16.h5", None, None]


@pytest.mark.parametrize("epochs, ok", [(5, False), (4, False), (6, True)])
def test_epochs_must_reach_every_phase_of_the_grid_strategies(epochs, ok):
    """The progressive strategy's first phase takes 5 epochs: with training.epochs <= 5 its second phase
    would never run while the result is still labelled progressive."""
    config = valid_config()
    config["training"]["epochs"] = epochs
    if ok:
        check_references(config)
        return
    with pytest.raises(ConfigError) as error:
        check_references(config)
    assert f"strategies.progressive: phase 2 would start after epoch 5, but training.epochs is {epochs}" in str(
        error.value)
