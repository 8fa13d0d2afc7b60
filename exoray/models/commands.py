"""``exoray models``: list the registered deep models (see :mod:`exoray.cli`).

``exoray train MODEL`` and ``exoray tune`` are registered by
:mod:`exoray.training.commands`: training runs Ray Train over simulated or
swept light curves, which sits above the models it trains.
"""

from __future__ import annotations

import json

from .registry import default_registry, list_models

__all__ = ["register", "cmd_models"]


def register(subparsers) -> None:
    m = subparsers.add_parser("models", help="list the registered deep models",
                              description="List every registered model version with its key metrics.")
    m.add_argument("--registry", default=None)
    m.add_argument("--json", action="store_true", help="print JSON")
    m.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    rows = list_models(args.registry)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print(f"no models registered in {args.registry or default_registry()}")
        return 0
    for r in rows:
        m = r["metrics"]
        print(f"{r['name']:12s} {r['version']}  {r['created'] or '?':25s}  val_auc={m.get('val_auc')}  "
              f"val_loss={m.get('val_loss')}  {r['path']}")
    return 0
