"""Ground-floor services every stage may use: files written atomically, Ray started the same way, progress.

Nothing here imports a stage package, so any stage can depend on it.
:mod:`exoray.runtime.ray_env` is not imported here: it is only needed by
the code that starts or joins Ray, and the atomic writers stay cheap;
:mod:`exoray.runtime.progress` is imported by the long runs that report it.
"""

from .files import atomic_open, write_json_atomic

__all__ = ["atomic_open", "write_json_atomic"]
