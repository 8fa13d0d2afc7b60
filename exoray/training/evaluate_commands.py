"""``exoray evaluate anomaly|transfer|augmentation`` and ``exoray export MODEL``."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..cliutil import group_subparsers
from ..runtime.ray_env import init_ray

# The modules that do the work (evaluation and export: torch) are imported
# inside the command functions: `exoray --help` imports this module to list its
# subcommands.

log = logging.getLogger(__name__)

__all__ = ["register", "cmd_evaluate_anomaly", "cmd_evaluate_transfer", "cmd_evaluate_augmentation", "cmd_export"]


def _common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--out", default=out_default, help=f"results folder (JSON + markdown; default {out_default})")
    p.add_argument("--registry", default=None,
                   help="model registry to train into / read from (default OUT/registry)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of a local Ray (default: all)")
    p.add_argument("--smoke-test", action="store_true", help="tiny models and a handful of stars (about a minute)")


def _init(args) -> None:
    init_ray(num_cpus=args.num_cpus)


def _print_md(path: Path) -> None:
    sys.stdout.write(path.read_text())
    print(f"\nwritten: {path} and {path.with_suffix('.json')}")


def cmd_evaluate_anomaly(args) -> int:
    from .evaluate import evaluate_anomaly

    _init(args)
    smoke = args.smoke_test
    evaluate_anomaly(args.out, n_train=args.n_train or (10 if smoke else 300),
                     n_test=args.n_test or (8 if smoke else 150), epochs=args.epochs or (1 if smoke else 10),
                     seed=args.seed, registry=args.registry, smoke=smoke, use_registered=args.use_registered,
                     combine_rule=args.combine)
    _print_md(Path(args.out) / "anomaly.md")
    return 0


def cmd_evaluate_transfer(args) -> int:
    from .evaluate import evaluate_transfer

    _init(args)
    smoke = args.smoke_test
    fr = tuple(float(f) for f in args.fractions.split(","))
    evaluate_transfer(args.out, n_pretrain=args.n_pretrain or (10 if smoke else 300),
                      n_labelled=args.n_labelled or (10 if smoke else 200), n_test=args.n_test or (8 if smoke else 150),
                      fractions=fr, epochs=args.epochs or (1 if smoke else 8), seed=args.seed,
                      encoder=args.encoder, registry=args.registry, smoke=smoke)
    _print_md(Path(args.out) / "transfer.md")
    return 0


def cmd_evaluate_augmentation(args) -> int:
    from .evaluate import evaluate_augmentation

    _init(args)
    smoke = args.smoke_test
    evaluate_augmentation(args.out, n_labelled=args.n_labelled or (10 if smoke else 60),
                          n_test=args.n_test or (8 if smoke else 150), epochs=args.epochs or (1 if smoke else 10),
                          gan_epochs=args.gan_epochs or (1 if smoke else 30), seed=args.seed, registry=args.registry,
                          smoke=smoke, augmentations=tuple(a for a in args.augmentations.split(",") if a))
    _print_md(Path(args.out) / "augmentation.md")
    return 0


def cmd_export(args) -> int:
    from .export import export_model

    res = export_model(args.model, args.out, version=args.version, registry=args.registry, onnx=args.onnx,
                       quantize=args.quantize, prune=args.prune, distill=args.distill, n_stars=args.n_stars,
                       seed=args.seed, smoke=args.smoke_test, tolerance=args.tolerance,
                       prune_amount=args.prune_amount)
    sys.stdout.write(Path(res["markdown"]).read_text())
    print(f"\nwritten: {args.out}")
    return 0


def register(subparsers) -> None:
    ev = group_subparsers(subparsers, "evaluate", "evaluate models on held-out simulated data", "evaluate_target")
    p = ev.add_parser("anomaly", help="ROC/PR-AUC of OCSVM, autoencoder, transformer and combined scores by SNR",
                      description="Train the autoencoder and transformer (Ray Train) on non-transit windows of "
                      "simulated stars, fit the OCSVM and the combined score, and report ROC-AUC and PR-AUC per "
                      "window-SNR bin on held-out stars (OUT/anomaly.json, OUT/anomaly.md).")
    _common(p, "eval_out")
    p.add_argument("--n-train", type=int, default=None, help="training stars (default 300)")
    p.add_argument("--n-test", type=int, default=None, help="held-out test stars (default 150)")
    p.add_argument("--use-registered", action="store_true",
                   help="score with the latest registered autoencoder/transformer instead of training new ones")
    p.add_argument("--combine", choices=("mean", "max"), default="mean",
                   help="combined score: mean or max of the calibrated robust z-scores")
    p.set_defaults(func=cmd_evaluate_anomaly)

    p = ev.add_parser("transfer", help="classifier on a pretrained encoder vs from scratch at 1/10/100 %% labels",
                      description="Pretrain the encoder on unlabelled windows, then train the classifier with a "
                      "fraction of the labels on it and from scratch; ROC/PR-AUC on held-out stars "
                      "(OUT/transfer.json, OUT/transfer.md).")
    _common(p, "eval_out")
    p.add_argument("--encoder", choices=("autoencoder", "transformer"), default="autoencoder")
    p.add_argument("--fractions", default="0.01,0.1,1", help="label fractions, comma separated")
    p.add_argument("--n-pretrain", type=int, default=None, help="stars for pretraining (default 300)")
    p.add_argument("--n-labelled", type=int, default=None, help="labelled stars (default 200)")
    p.add_argument("--n-test", type=int, default=None, help="held-out test stars (default 150)")
    p.set_defaults(func=cmd_evaluate_transfer)

    p = ev.add_parser("augmentation", help="classifier with vs without each augmentation (GAN included)",
                      description="Train the classifier on one small labelled set without and with each "
                      "augmentation; check the conditional GAN's samples against physics "
                      "(OUT/augmentation.json, OUT/augmentation.md).")
    _common(p, "eval_out")
    p.add_argument("--augmentations", default="noise,warp,mixup,inject,gan", help="comma separated")
    p.add_argument("--n-labelled", type=int, default=None, help="labelled stars (default 60)")
    p.add_argument("--n-test", type=int, default=None, help="held-out test stars (default 150)")
    p.add_argument("--gan-epochs", type=int, default=None, help="GAN epochs (default 30)")
    p.set_defaults(func=cmd_evaluate_augmentation)

    p = subparsers.add_parser(
        "export", help="export a registered model: ONNX (checked), int8, pruned, distilled",
        description="Export a registered model to DIR: ONNX checked against onnxruntime, dynamic int8 "
        "quantisation, magnitude pruning with fine-tuning, distillation into a small CNN; writes "
        "DIR/export.json and DIR/export.md (size, latency per window, AUC of every variant).")
    p.add_argument("model", choices=("autoencoder", "transformer", "classifier"))
    p.add_argument("--version", default="latest")
    p.add_argument("--registry", default=None, help="model registry (default $EXORAY_MODEL_REGISTRY or ~/.exoray/models)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--onnx", action="store_true", help="ONNX export checked against onnxruntime")
    p.add_argument("--quantize", action="store_true", help="dynamic int8 (torch and onnxruntime)")
    p.add_argument("--prune", action="store_true", help="L1 magnitude pruning + fine-tuning")
    p.add_argument("--prune-amount", type=float, default=0.5, help="fraction of weights pruned (default 0.5)")
    p.add_argument("--distill", action="store_true", help="distil into a small CNN (student)")
    p.add_argument("--n-stars", type=int, default=None, help="simulated stars for evaluation / fine-tuning (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |ONNX - torch| allowed (default 1e-4)")
    p.add_argument("--smoke-test", action="store_true", help="few stars, short fine-tuning")
    p.set_defaults(func=cmd_export)
