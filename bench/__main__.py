"""`make bench`: every comparison of docs/benchmarks.md in one run on this machine.

    PYTHONPATH=src python -m bench [--size default|tiny|study] [--sections ...] [--demo DIR] [--out results/bench]

Writes results/bench/<section>.csv, summary.csv (one line per comparison, as a ratio with its target) and
machine.csv, prints the summary, then writes docs/benchmarks.md from the CSVs (`bench.docs`). Sizes come from
`--size` and each can be set on its own (`--images 1024`). Random weights and pixels: throughput depends on neither.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pandas as pd  # noqa: E402

from bench.common import CONFIG, REPO, load_config, random_images, round_figures  # noqa: E402
from landcover_transfer.workflow.provenance import cpu_model, git_state, package_versions  # noqa: E402

SECTIONS = ("pipeline", "training", "switches", "augmentation", "classical", "overhead", "demo", "dag", "study",
            "predict")
# Sizes per preset: `default` is `make bench` on a workstation, `study` the study's data size (bench/gpu.sh),
# `tiny` a run of seconds for the tests.
PRESETS = {
    "tiny": {"images": 64, "pipeline_images": 128, "image_sizes": [32], "epochs": 2, "feature_rows": 270,
             "feature_dims": 32, "grid_variants": [8], "study_images": 160, "study_epochs": 2,
             "scene_sizes": [96, 160], "tta_scene_sizes": [96]},
    "default": {"images": 512, "pipeline_images": 2048, "image_sizes": [64, 128], "epochs": 2,
                "feature_rows": 15360, "feature_dims": 2048, "grid_variants": [1000, 10000], "study_images": 2400,
                "study_epochs": 2, "scene_sizes": [256, 512, 1024], "tta_scene_sizes": [512]},
    "study": {"images": 24000, "pipeline_images": 24000, "image_sizes": [64, 128], "epochs": 2,
              "feature_rows": 15360, "feature_dims": 2048, "grid_variants": [1000, 10000], "study_images": None,
              "study_epochs": 2, "scene_sizes": [512, 1024, 2048], "tta_scene_sizes": [1024]},
}
DEFAULT_SECTIONS = [section for section in SECTIONS if section != "study"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(PRESETS), default="default", help="preset of the sizes below")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS,
                        help=f"default: {' '.join(DEFAULT_SECTIONS)} (and study with --size study)")
    parser.add_argument("--config", default=str(CONFIG))
    parser.add_argument("--configfile", nargs="*", default=[], help="override files, merged as Snakemake does")
    parser.add_argument("--architectures", nargs="+", help="default: the config's fine-tuning grid")
    parser.add_argument("--augmentations", nargs="+",
                        help="policies whose cost is measured (default: every policy of Keras layers in the config)")
    parser.add_argument("--images", type=int, help="images per training measurement")
    parser.add_argument("--pipeline-images", type=int, help="images per input-pipeline measurement")
    parser.add_argument("--image-sizes", type=int, nargs="+", help="image sides of the input-pipeline comparison")
    parser.add_argument("--source-size", type=int, default=64, help="stored image side for training (the study's: 64)")
    parser.add_argument("--batch-size", type=int, help="default: the config's training.batch_size")
    parser.add_argument("--epochs", type=int, help="epochs per measurement; the first (tracing) is not counted")
    parser.add_argument("--feature-rows", type=int, help="fit rows of the synthetic features (study: 15,360)")
    parser.add_argument("--feature-dims", type=int, help="feature dimensions (study: VGG16's 2,048)")
    parser.add_argument("--xgboost-max-bin", type=int, default=64)
    parser.add_argument("--xgboost-early-stopping", type=int, default=10, help="rounds without improvement")
    parser.add_argument("--overhead-variant", default="mobilenet_v2/last_block/standard", help="a demo variant")
    parser.add_argument("--overhead-config", nargs="*", default=[str(REPO / "config" / "demo.yaml")],
                        help="override files of the job timed for the per-job overhead (default: the demo's)")
    parser.add_argument("--demo", help="a finished demo's directory: its steps' times, its features for XGBoost")
    parser.add_argument("--demo-wall-seconds", type=float, help="the demo's end-to-end time, if timed outside")
    parser.add_argument("--grid-variants", type=int, nargs="+",
                        help="variants of each generated grid (dry run against a bare Snakefile)")
    parser.add_argument("--study-images", type=int, help="images of the study section (default: the study's)")
    parser.add_argument("--study-epochs", type=int)
    parser.add_argument("--study-variant", default="last_block/standard", help="strategy/augmentation measured")
    parser.add_argument("--scene-sizes", type=int, nargs="+", help="sides in pixels of the scenes mapped (predict)")
    parser.add_argument("--tta-scene-sizes", type=int, nargs="*",
                        help="of those, the sizes also mapped with test-time augmentation")
    parser.add_argument("--predict-variant", default="mobilenet_v2/last_block/none",
                        help="the variant that maps the scenes, at its architecture's image_size")
    parser.add_argument("--predict-stride", type=int, default=16)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--out", default=str(REPO / "results" / "bench"))
    parser.add_argument("--docs", default=str(REPO / "docs" / "benchmarks.md"), help="'' to skip the docs")
    args = parser.parse_args(argv)
    for key, value in PRESETS[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.sections = args.sections or DEFAULT_SECTIONS + (["study"] if args.size == "study" else [])
    return args


def machine(args, runtime: dict) -> list[dict]:
    """What the figures were measured on and with which sizes."""
    import tensorflow as tf

    gpus = [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")]
    facts = {"date (UTC)": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"), "host": platform.node(),
             "CPU": cpu_model(), "CPU cores": os.cpu_count(), "threads used": args.threads,
             "GPU": ", ".join(gpus) or "none", "git commit": git_state(REPO)["commit"],
             **{f"{name} version": version for name, version in package_versions().items()},
             "size preset": args.size, "training images per measurement": args.images,
             "epochs per measurement": args.epochs, "input-pipeline images": args.pipeline_images,
             "input-pipeline image sides": " ".join(map(str, args.image_sizes)),
             "classical features": f"{args.feature_rows} x {args.feature_dims}",
             "generated grids (dry run)": " ".join(map(str, args.grid_variants)),
             "mixed precision (auto)": runtime["mixed_precision"],
             "XLA (auto)": runtime["jit_compile"], "training.deterministic": runtime["deterministic"],
             "tf_keras version (ImageDataGenerator)": tf_keras_version(),
             "config": " + ".join(map(str, [args.config, *args.configfile])), "finished demo": args.demo or "none"}
    return [{"fact": fact, "value": value} for fact, value in facts.items()]


def tf_keras_version() -> str:
    try:
        return metadata.version("tf_keras")
    except metadata.PackageNotFoundError:
        return "not installed"


class Run:
    """The sections of one run, sharing the config, the runtime and one set of training images."""

    def __init__(self, args):
        from landcover_transfer.finetune.training import configure_runtime

        self.args = args
        self.config = load_config(args.config, args.configfile)
        training = self.config["training"]
        self.batch_size = args.batch_size or training["batch_size"]
        self.runtime = {**configure_runtime(training, args.threads),
                        "deterministic": training.get("deterministic", True)}
        self.architectures = args.architectures or self.config["finetune"]["architectures"]
        self._measure = None

    @property
    def measure(self):
        from bench.training import Measure

        if self._measure is None:
            images, labels = random_images(self.args.images, self.args.source_size, 9)
            self._measure = Measure(self.config, images, labels, self.batch_size, self.args.epochs, self.runtime)
        return self._measure

    def pipeline(self):
        from bench.pipeline import compare_pipelines

        return compare_pipelines(self.config, self.args.image_sizes, self.args.pipeline_images, self.batch_size,
                                 self.args.epochs)

    def training(self):
        from bench.training import architecture_rates

        return architecture_rates(self.measure, self.architectures), []

    def switches(self):
        from bench.training import runtime_switches

        return runtime_switches(self.measure, self.architectures)

    def augmentation(self):
        from bench.training import augmentation_costs

        return augmentation_costs(self.measure, self.architectures, self.args.augmentations)

    def classical(self):
        from bench.classical import classical_fits

        return classical_fits(self.config, self.args.feature_rows, self.args.feature_dims, self.args.threads,
                              self.args.xgboost_max_bin, self.args.xgboost_early_stopping, self.args.demo)

    def overhead(self):
        from bench.overhead import job_overhead

        demo_config = load_config(self.args.config, self.args.overhead_config)
        return job_overhead(demo_config, self.args.overhead_variant, self.args.threads)

    def demo(self):
        """A finished demo's steps (`--demo`); nothing without one."""
        from bench.overhead import demo_breakdown

        return demo_breakdown(self.args.demo, self.args.demo_wall_seconds) if self.args.demo else ([], [])

    def dag(self):
        from bench.dag import dag_scale

        return dag_scale(self.config, [self.args.config, *self.args.configfile], self.args.grid_variants)

    def predict(self):
        from bench.predict import scene_scaling

        return scene_scaling(self.config, self.args.predict_variant, self.args.scene_sizes, self.args.predict_stride,
                             self.args.tta_scene_sizes, self.args.threads)

    def study(self):
        from bench.study import study_projection

        return study_projection(self.config, self.args.study_variant, self.args.study_images,
                                self.args.study_epochs, self.args.threads)


def write_summary(out: Path, section: str, rows: list[dict]) -> pd.DataFrame:
    """summary.csv with this section's rows replaced (a run of some sections keeps the others' rows)."""
    path = out / "summary.csv"
    old = pd.read_csv(path, keep_default_na=False) if path.is_file() else pd.DataFrame(columns=["section"])
    frame = pd.concat([old[old["section"] != section], pd.DataFrame([{"section": section, **row} for row in rows])],
                      ignore_index=True)
    order = {name: index for index, name in enumerate(SECTIONS)}
    frame = frame.sort_values("section", key=lambda column: column.map(order), kind="stable", ignore_index=True)
    frame.to_csv(path, index=False)
    return frame


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    run = Run(args)
    pd.DataFrame(machine(args, run.runtime)).to_csv(out / "machine.csv", index=False)
    print(f"bench: sections {' '.join(args.sections)}, size {args.size}, into {out}", flush=True)
    for section in args.sections:
        started = time.perf_counter()
        rows, summary = getattr(run, section)()
        frame = write_summary(out, section, round_figures(summary, 3))
        if not rows:  # nothing to measure (demo without --demo): no stale figures from an earlier run either
            (out / f"{section}.csv").unlink(missing_ok=True)
            print(f"\n== {section}: skipped", flush=True)
            continue
        pd.DataFrame(round_figures(rows, 4)).to_csv(out / f"{section}.csv", index=False)
        print(f"\n== {section} ({time.perf_counter() - started:.0f} s)", flush=True)
        print(pd.DataFrame(rows).to_string(index=False, float_format=lambda value: f"{value:.3g}"), flush=True)
    columns = ["comparison", "baseline_value", "candidate_value", "unit", "ratio", "target", "target_met"]
    print("\n== summary\n" + frame.reindex(columns=columns).to_string(index=False))
    if args.docs:
        from bench.docs import write_docs

        write_docs(out, args.docs)
        print(f"\n{args.docs} written from {out}")


if __name__ == "__main__":
    main()
