"""exoray.serve: the HTTP scoring service (Ray Serve + FastAPI) and its CLI.

:mod:`exoray.serve.score` holds the pure functions (same code paths as the
sweep), :mod:`exoray.serve.schemas` the request/response models and
:mod:`exoray.serve.app` the Serve deployments; ``exoray serve`` and
``exoray dashboard`` live in :mod:`exoray.serve.commands`.
"""
