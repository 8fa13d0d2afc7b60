"""Ground-floor services every stage may use: files written atomically.

Nothing here imports a stage package, so any stage can depend on it.
"""

from .files import atomic_open, write_json_atomic

__all__ = ["atomic_open", "write_json_atomic"]
