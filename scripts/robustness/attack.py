from landcover_transfer.workflow.jobs import send_output_to_log

send_output_to_log(snakemake)  # first: TensorFlow's import writes C++ start-up lines, which belong in the job's log

from landcover_transfer.attacks import art_classifier, logits_model
from landcover_transfer.data.dataset import load_configured_dataset
from landcover_transfer.data.splits import Splits
from landcover_transfer.finetune.models import load_model
from landcover_transfer.finetune.training import configure_runtime
from landcover_transfer.robustness.evaluation import (
    attack_set,
    ensemble_logits_model,
    evaluate_attack,
    finetune_members,
    predict_labels,
    result_id,
)
from landcover_transfer.robustness.report import plot_adversarial_examples
from landcover_transfer.workflow.atomic_files import write_json, write_npy
from landcover_transfer.workflow.jobs import run_script


def main(snakemake):
    params, inputs, output, target = snakemake.params, snakemake.input, snakemake.output, snakemake.wildcards.target
    settings = params.robustness
    configure_runtime({"mixed_precision": False, "jit_compile": False}, snakemake.threads)
    splits = Splits.load(inputs.splits)
    x, y, _ = attack_set(load_configured_dataset(inputs.dataset, params.data), splits, settings)
    if target == "ensemble":
        # the differentiable surrogate of the ensembles: mean probability of the fine-tuned members
        members = finetune_members(inputs.metrics, params.members)
        model_path = {result_id(path): path for path in inputs.models}
        logits = ensemble_logits_model([load_model(model_path[name]) for name in members])
    else:
        members = [target]
        logits = logits_model(load_model(inputs.models[0]))
    classifier, lines = art_classifier(logits), []
    for attack, result_path, adversarial_path, examples_path in zip(
            params.attacks, output.results, output.adversarial, output.examples, strict=True):
        result, adversarial = evaluate_attack(logits, attack, x, y, settings, classifier)
        kept = adversarial[result["eps"].index(settings["transfer_eps"])]
        write_npy(adversarial_path, kept)
        plot_adversarial_examples(x, kept, y, lambda images: predict_labels(logits, images, settings["batch_size"]),
                                  splits.class_names, examples_path,
                                  f"{target}: {attack} at eps {settings['transfer_eps']}/255")
        write_json(result_path, {"target": target, "members": members, **result})
        accuracy = ", ".join(f"{eps:g}: {acc:.3f}" for eps, acc in zip(result["eps"], result["accuracy"], strict=True))
        lines.append(f"{attack} {{{accuracy}}}")
    return f"{target}, accuracy by eps/255 under " + "; ".join(lines)


run_script(snakemake, main)
