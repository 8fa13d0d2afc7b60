"""exoray.serve: the HTTP scoring service (Ray Serve + FastAPI) and its CLI.

:mod:`exoray.serve.score` holds the pure functions (same code paths as the
sweep).  The HTTP API: :mod:`exoray.serve.bodies` the request/response
models, :mod:`exoray.serve.parsing` decoding and validating request bodies,
:mod:`exoray.serve.errors` the JSON error responses and exception handlers,
:mod:`exoray.serve.middleware` the size, time and media-type limits, and
:mod:`exoray.serve.routes` the FastAPI app with the ingress deployment whose
methods are the routes.  :mod:`exoray.serve.deployments` holds the model
deployments and :func:`~exoray.serve.deployments.build_app`;
:mod:`exoray.serve.settings` the service settings and
:mod:`exoray.serve.replica` what every replica does as it starts.
``exoray serve`` and ``exoray dashboard`` live in :mod:`exoray.serve.commands`.
"""
