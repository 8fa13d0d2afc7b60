"""Replacing exoray's transit search in tests that exercise what happens around it."""

from __future__ import annotations

def replace_search(monkeypatch, fn):
    """Make ``fn(plc, cfg, **kw) -> (rows, results, vets)`` the transit search of every path.

    The sweep's engine searches a batch in lock-step through
    ``candidate_steps`` generators and a single light curve through
    ``find_candidates``; a test that fakes the search must replace both,
    where they are defined and in :mod:`exoray.search.lockstep`, which
    imports them.
    """

    def steps(plc, cfg=None, **kw):
        return fn(plc, cfg, **kw)
        yield  # a generator that returns at once: nothing to compute

    for module in ("exoray.search.candidates", "exoray.search.lockstep"):
        monkeypatch.setattr(f"{module}.find_candidates", fn)
        monkeypatch.setattr(f"{module}.candidate_steps", steps)
