"""Argument-parser plumbing shared by the stages' ``commands`` modules.

It lives on the ground floor, below every stage, so that a stage's
``commands`` module can build its subcommands without importing
:mod:`exoray.cli`: the CLI imports the stages (through its table of command
modules), never the other way round.
"""

from __future__ import annotations

import argparse

__all__ = ["group_subparsers"]


def group_subparsers(subparsers, name: str, help: str, dest: str):
    """Sub-subparsers of a command group (``train``, ``evaluate``, ...) shared by stages.

    The first stage to ask creates ``exoray NAME``; later stages add their
    targets to the same group, so ``exoray train ranker`` and
    ``exoray train autoencoder`` live side by side.
    """
    group = subparsers.choices.get(name)
    if group is None:
        group = subparsers.add_parser(name, help=help)
    for action in group._actions:  # noqa: SLF001 - argparse has no public accessor
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return action
    return group.add_subparsers(dest=dest, metavar="TARGET")
