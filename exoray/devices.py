"""Which device the search runs on, checked before any work starts.

The transit search runs its BLS kernels with torch on ``cpu`` or a CUDA
device (``cuda``, ``cuda:N``).  A sweep that asks for a GPU it cannot get
would otherwise fail light curve by light curve deep inside the search
(every input quarantined at the ``search`` stage), or, on Ray, wait forever
for a GPU the cluster does not have; so the commands check the device once,
up front, and refuse with a message that says what to do.
"""

from __future__ import annotations

import re
from typing import Optional

from .errors import ConfigError

__all__ = ["DEVICE_HELP", "parse_device", "require_local_device", "require_ray_gpus", "is_cuda"]

DEVICE_HELP = "cpu, cuda or cuda:N"
_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?)$")


def parse_device(device: Optional[str]) -> str:
    """``device`` normalised (``None`` -> ``"cpu"``); a :class:`ConfigError` if it is not cpu/cuda/cuda:N."""
    d = "cpu" if device is None else str(device).strip().lower()
    if not _PATTERN.match(d):
        raise ConfigError(f"device {device!r} is not supported; use {DEVICE_HELP}")
    return d


def is_cuda(device: Optional[str]) -> bool:
    return parse_device(device).startswith("cuda")


def require_local_device(device: Optional[str]) -> str:
    """Check that this process can use ``device``; returns it normalised.

    Raises
    ------
    ConfigError
        CUDA asked for and torch sees no CUDA device (no GPU, no driver, or a
        CPU-only build of torch), or ``cuda:N`` beyond the devices present.
    """
    d = parse_device(device)
    if not d.startswith("cuda"):
        return d
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"--device {d}: CUDA is not available to torch here (torch {torch.__version__}, "
            f"torch.cuda.is_available() is False: no GPU, no driver, or a CPU-only torch build); "
            "run with --device cpu, or where a GPU and a CUDA build of torch are installed"
        )
    if ":" in d:
        index, count = int(d.split(":")[1]), torch.cuda.device_count()
        if index >= count:
            raise ConfigError(f"--device {d}: this machine has {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    return d


def require_ray_gpus(device: Optional[str]) -> int:
    """Check that the connected Ray cluster offers GPUs for a ``cuda`` search; returns how many.

    Ray gives each GPU worker its own device (``CUDA_VISIBLE_DEVICES``), so
    a worker always uses ``cuda``; a fixed index ``cuda:N`` cannot be
    honoured and is refused.
    """
    import ray

    d = parse_device(device)
    if ":" in d:
        raise ConfigError(
            f"--device {d}: on Ray each worker is given its own GPU, so a device index cannot be chosen; "
            "use --device cuda (or --no-ray to run on one chosen device)"
        )
    n = int(ray.cluster_resources().get("GPU", 0))
    if n < 1:
        raise ConfigError(
            "--device cuda: the Ray cluster offers no GPU (ray.cluster_resources() has no 'GPU'); "
            "start Ray on a machine with GPUs (or add GPU nodes), or run with --device cpu"
        )
    return n
