"""The package version, on the ground floor.

Modules that record or report the version (the model registry, the rerun
fingerprint, the CLI, the service) import it from here rather than from the
package itself: ``exoray/__init__`` is the notebook facade over every layer,
and importing it from inside a stage would make that stage depend on all of them.
"""

__version__ = "0.1.0"
