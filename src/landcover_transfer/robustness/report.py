"""Robustness tables and plots (the report's Robustness category), RobustBench style: clean vs robust
accuracy at stated L-infinity budgets, eps in 1/255 units.

Inputs are the attack jobs' `robust.json` dicts (see `robustness.evaluate_attack`, plus `target`) and the
transfer matrix (rows: source of the adversarial images, columns: target model).
"""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from landcover_transfer.reporting.plots import _chance_line, _save  # noqa: E402
from landcover_transfer.workflow.config import ADVERSARIAL_ENTRY  # noqa: E402

WHITE_BOX = "white-box"
SURROGATE = "surrogate (mean probability of the fine-tuned members)"


def eps_column(eps) -> str:
    return f"eps {eps:g}/255"


def _by_eps(result: dict) -> dict:
    return {eps_column(eps): accuracy for eps, accuracy in zip(result["eps"], result["accuracy"], strict=True)}


def _split_target(target: str) -> tuple[str, str]:
    family, _, model = target.partition("/")
    return family, model or SURROGATE


def robustness_table(results: Sequence[dict], transfer: pd.DataFrame, settings: dict) -> pd.DataFrame:
    """Accuracy per model, attack and eps (eps 0 = clean accuracy on the attack subset).

    Fine-tuned variants and the ensemble surrogate: white-box. Ensemble methods and classical models have
    no gradient: their numbers are at `transfer_eps` only, under transfer (ensembles from the surrogate,
    classical models from the strongest fine-tuned source).
    """
    columns = [eps_column(e) for e in settings["eps"]]
    rows = []
    for result in results:
        family, model = _split_target(result["target"])
        rows.append({"Family": family, "Model": model, "Attack": result["attack"], "Mode": WHITE_BOX,
                     **_by_eps(result)})
    clean_column, transfer_column = eps_column(0), eps_column(settings["transfer_eps"])
    finetune_sources = [s for s in transfer.index if s.startswith("finetune/")]
    for target in transfer.columns:
        family, model = _split_target(target)
        if family == "ensemble":
            mode, robust = "transfer from the surrogate (no gradient)", transfer.loc["ensemble", target]
        elif family == "classical":
            mode = "transfer, strongest fine-tuned source (no gradient)"
            robust = transfer.loc[finetune_sources, target].min()
        else:
            continue
        rows.append({"Family": family, "Model": model, "Attack": settings["transfer_attack"], "Mode": mode,
                     clean_column: transfer.loc["clean", target], transfer_column: robust})
    return pd.DataFrame(rows, columns=["Family", "Model", "Attack", "Mode", *columns])


def transfer_table(transfer: pd.DataFrame) -> pd.DataFrame:
    """The transfer matrix with the source as first column (`ensemble` is the surrogate)."""
    table = transfer.rename(index={"ensemble": f"ensemble {SURROGATE}"}).reset_index()
    return table.rename(columns={"source": "Source \\ Target"})


def adversarial_training_table(results: Sequence[dict], finetune: pd.DataFrame, augmentations: dict,
                               settings: dict) -> pd.DataFrame:
    """Robust accuracy of the adversarially trained variants beside their twins (same architecture and
    strategy, other augmentation policies), with the training cost per epoch. Empty when the grid has no
    adversarial policy."""
    adversarial = {name for name, policy in augmentations.items()
                   if any(ADVERSARIAL_ENTRY in entry for entry in policy)}
    columns = ["Architecture", "Strategy", "Augmentation", "Adversarial Training", "Attack",
               *[eps_column(e) for e in settings["eps"]], "Seconds per Epoch"]
    seconds = {f"finetune/{r.architecture}/{r.strategy}/{r.augmentation}": r.wall_time_s / r.epochs_run
               for r in finetune.itertuples()}
    trained = {(arch, strategy) for arch, strategy, aug in
               (r["target"].split("/")[1:] for r in results if r["target"].startswith("finetune/"))
               if aug in adversarial}
    rows = []
    for result in results:
        if not result["target"].startswith("finetune/"):
            continue
        _, arch, strategy, aug = result["target"].split("/")
        if (arch, strategy) in trained:
            rows.append({"Architecture": arch, "Strategy": strategy, "Augmentation": aug,
                         "Adversarial Training": aug in adversarial, "Attack": result["attack"], **_by_eps(result),
                         "Seconds per Epoch": seconds.get(result["target"])})
    return pd.DataFrame(rows, columns=columns).sort_values(["Architecture", "Strategy", "Attack", "Augmentation"],
                                                           kind="mergesort").reset_index(drop=True)


def add_robust_accuracy(board: pd.DataFrame, robustness: pd.DataFrame, headline_eps) -> pd.DataFrame:
    """The leaderboard with the accuracy under the strongest attack at `headline_eps` (blank where not measured)."""
    column = eps_column(headline_eps)
    worst = robustness.groupby(["Family", "Model"])[column].min() if column in robustness else pd.Series(dtype=float)
    title = f"Robust Accuracy ({column})"
    keys = list(zip(board["Family"], board["Model"], strict=True))
    return board.assign(**{title: [worst.get(key, np.nan) for key in keys]})


# ---------------------------------------------------------------- plots

def plot_accuracy_vs_eps(results: Sequence[dict], path: str | os.PathLike, title: str,
                         chance: float | None = None) -> None:
    """Accuracy against eps, one colour per model, solid PGD and dashed FGSM; the chance level dotted."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    targets = sorted({r["target"] for r in results})
    colours = plt.get_cmap("tab10" if len(targets) <= 10 else "tab20")
    styles = {"pgd": "-", "fgsm": "--"}
    for result in results:
        index = targets.index(result["target"])
        ax.plot(result["eps"], result["accuracy"], styles.get(result["attack"], ":"), marker="o",
                color=colours(index % colours.N), label=f"{result['target'].split('/', 2)[-1]} ({result['attack']})")
    ax.set_xticks(sorted({eps for r in results for eps in r["eps"]}))
    ax.set_xlabel("eps (L-infinity, 1/255 units)")
    ax.set_ylabel("accuracy on the attack subset")
    ax.set_ylim(0, 1.02)
    _chance_line(ax.axhline, chance)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    _save(fig, path)


def plot_transfer_matrix(matrix: pd.DataFrame, path: str | os.PathLike, title: str) -> None:
    """Heat map of the transfer matrix (rows: source of the images, columns: target), accuracy in the cells."""
    matrix = matrix.rename(index={"ensemble": "ensemble (surrogate)"})
    fig, ax = plt.subplots(figsize=(3.0 + 0.7 * matrix.shape[1], 1.5 + 0.5 * matrix.shape[0]))
    image = ax.imshow(matrix.to_numpy(dtype=float), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    fig.colorbar(image, ax=ax, label="accuracy")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(matrix.shape[0]), matrix.index, fontsize=7)
    ax.set_xlabel("target model")
    ax.set_ylabel("source of the adversarial images")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            value = matrix.iat[i, j]
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6,
                    color="black" if value > 0.5 else "white")
    ax.set_title(title)
    _save(fig, path)


def plot_adversarial_examples(x: np.ndarray, x_adv: np.ndarray, y: np.ndarray, predict_labels,
                              class_names: list[str], path: str | os.PathLike, title: str, n_examples: int = 5) -> None:
    """Rows of original (label, prediction), perturbation (amplified to the full colour range), adversarial.

    Shows images the model gets right without attack where there are enough (a wrong one needs no perturbation).
    """
    clean = predict_labels(x)
    shown = np.concatenate([np.flatnonzero(clean == y), np.flatnonzero(clean != y)])[:n_examples]
    x, x_adv, y, clean = x[shown], x_adv[shown], y[shown], clean[shown]
    attacked = predict_labels(x_adv)
    fig, axes = plt.subplots(len(clean), 3, figsize=(6.6, 2.2 * len(clean)), squeeze=False)
    for row, (image, adversarial) in enumerate(zip(x, x_adv, strict=True)):
        delta = adversarial - image
        scale = float(np.abs(delta).max())
        amplified = 0.5 + delta / (2 * scale) if scale else np.full_like(delta, 0.5)
        perturbation = f"perturbation x{127.5 / scale:.0f}\nmax {scale:.2f}/255" if scale else "no perturbation"
        panels = [(image / 255, f"true {class_names[y[row]]}\npred {class_names[clean[row]]}"),
                  (amplified, perturbation),
                  (adversarial / 255, f"adversarial\npred {class_names[attacked[row]]}")]
        for ax, (picture, label) in zip(axes[row], panels, strict=True):
            ax.imshow(np.clip(picture, 0, 1))
            ax.set_title(label, fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    _save(fig, path)

