"""Conditional GAN that draws light-curve windows holding a transit.

The generator maps noise ``z`` and a condition ``(depth_ppm, duration_hours)``
to a normalised window (:func:`exoray.models.windows.normalize_windows` units);
the discriminator sees a window and the same condition and says real/fake, so
the generator must draw a dip *of the requested depth and duration* against a
realistic noise background (a projection-style conditional GAN: Miyato &
Koyama 2018, with the condition also fed to the generator).  It is trained on
the transit windows of :func:`exoray.training.data.simulated_windows` (or a
sweep) with the non-saturating GAN loss, and is the augmentation source for
the anomaly stage.

The condition is encoded as ``(log10(depth_ppm) - 3, ln(duration_hours / 4))``
so typical values are O(1).
"""

from __future__ import annotations

from typing import Mapping, Union

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import ConfigError, InputError

__all__ = ["ConditionalGAN", "encode_condition"]

ArrayLike = Union[float, np.ndarray, torch.Tensor]


def encode_condition(depth_ppm: ArrayLike, duration_hours: ArrayLike, n: int, device=None) -> torch.Tensor:
    """Condition tensor ``[n, 2]`` from scalar or length-``n`` depths and durations."""
    d = torch.as_tensor(depth_ppm, dtype=torch.float32, device=device).reshape(-1)
    h = torch.as_tensor(duration_hours, dtype=torch.float32, device=device).reshape(-1)
    for name, v in (("depth_ppm", d), ("duration_hours", h)):
        if v.numel() not in (1, n):
            raise InputError(f"{name} must be a scalar or have {n} values, got {v.numel()}")
        if not torch.all(torch.isfinite(v)) or torch.any(v <= 0):
            raise InputError(f"{name} must be finite and > 0")
    d = d.expand(n) if d.numel() == 1 else d
    h = h.expand(n) if h.numel() == 1 else h
    return torch.stack([torch.log10(d) - 3.0, torch.log(h / 4.0)], dim=1)


class _Generator(nn.Module):
    def __init__(self, window_length, noise_dim, base_channels, depth, kernel_size):
        super().__init__()
        self.n0 = window_length // 2 ** depth
        self.c0 = base_channels * 2 ** (depth - 1)
        self.fc = nn.Sequential(nn.Linear(noise_dim + 2, self.c0 * self.n0), nn.GELU())
        layers = []
        c = self.c0
        for i in reversed(range(depth)):
            c_out = base_channels * 2 ** (i - 1) if i > 0 else base_channels
            layers += [nn.ConvTranspose1d(c, c_out, 4, stride=2, padding=1), nn.BatchNorm1d(c_out), nn.GELU()]
            c = c_out
        layers.append(nn.Conv1d(c, 1, kernel_size, padding=kernel_size // 2))
        self.net = nn.Sequential(*layers)

    def forward(self, z, cond):
        h = self.fc(torch.cat([z, cond], dim=1)).view(z.shape[0], self.c0, self.n0)
        return self.net(h).squeeze(1)


class _Discriminator(nn.Module):
    def __init__(self, window_length, base_channels, depth, kernel_size):
        super().__init__()
        layers = []
        c = 1
        for i in range(depth):
            c_out = base_channels * 2 ** i
            layers += [nn.utils.spectral_norm(nn.Conv1d(c, c_out, kernel_size, stride=2, padding=kernel_size // 2)),
                       nn.LeakyReLU(0.2)]
            c = c_out
        self.conv = nn.Sequential(*layers)
        feat = c * (window_length // 2 ** depth)
        self.fc = nn.utils.spectral_norm(nn.Linear(feat, 64))
        self.out = nn.utils.spectral_norm(nn.Linear(64, 1))
        self.embed = nn.utils.spectral_norm(nn.Linear(2, 64, bias=False))  # projection term

    def forward(self, x, cond):
        h = F.leaky_relu(self.fc(self.conv(x.unsqueeze(1)).flatten(1)), 0.2)
        return self.out(h).squeeze(1) + (self.embed(cond) * h).sum(dim=1)


class ConditionalGAN(nn.Module):
    """Generator + discriminator, conditioned on transit depth and duration."""

    kind = "gan"

    def __init__(self, window_length: int = 192, noise_dim: int = 16, base_channels: int = 16,
                 depth: int = 3, kernel_size: int = 7):
        super().__init__()
        if window_length % (2 ** depth):
            raise ConfigError(f"window_length={window_length} must be divisible by 2**depth={2 ** depth}")
        self.window_length = int(window_length)
        self.noise_dim = int(noise_dim)
        self.generator = _Generator(window_length, noise_dim, base_channels, depth, kernel_size)
        self.discriminator = _Discriminator(window_length, base_channels, depth, kernel_size)

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Generated windows ``[B, L]`` from noise ``z[B, noise_dim]`` and encoded ``cond[B, 2]``."""
        return self.generator(z, cond)

    def discriminate(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Real/fake logits ``[B]``."""
        return self.discriminator(x, cond)

    @torch.no_grad()
    def generate(self, n: int, depth_ppm: ArrayLike, duration_hours: ArrayLike,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` windows ``[n, L]`` with transits of the given depth(s) [ppm] and duration(s) [h]."""
        if int(n) < 1:
            raise InputError(f"n must be >= 1, got {n}")
        device = next(self.parameters()).device
        cond = encode_condition(depth_ppm, duration_hours, int(n), device=device)
        z = torch.randn(int(n), self.noise_dim, device=device, generator=generator)
        was = self.generator.training
        self.generator.eval()
        try:
            return self.generator(z, cond)
        finally:
            self.generator.train(was)

    def d_loss(self, real: torch.Tensor, cond: torch.Tensor, generator: nn.Module | None = None,
               discriminator: nn.Module | None = None) -> torch.Tensor:
        """Discriminator loss (non-saturating GAN, softplus form).

        ``generator`` / ``discriminator`` default to this model's own; pass
        the DDP-wrapped modules when training distributed.  Real and fake go
        through the discriminator in one forward call (one DDP forward per
        backward).
        """
        G = generator or self.generator
        D = discriminator or self.discriminator
        n = real.shape[0]
        with torch.no_grad():
            fake = G(torch.randn(n, self.noise_dim, device=real.device), cond)
        logits = D(torch.cat([real, fake.to(real.dtype)]), torch.cat([cond, cond]))
        return F.softplus(-logits[:n]).mean() + F.softplus(logits[n:]).mean()

    def g_loss(self, cond: torch.Tensor, generator: nn.Module | None = None,
               discriminator: nn.Module | None = None) -> torch.Tensor:
        """Generator loss (non-saturating) for ``len(cond)`` fakes."""
        G = generator or self.generator
        D = discriminator or self.discriminator
        z = torch.randn(cond.shape[0], self.noise_dim, device=cond.device)
        return F.softplus(-D(G(z, cond), cond)).mean()

    @classmethod
    def from_config(cls, cfg: Mapping) -> "ConditionalGAN":
        return cls(window_length=cfg["window_length"], noise_dim=cfg["noise_dim"],
                   base_channels=cfg["base_channels"], depth=cfg["depth"], kernel_size=cfg["kernel_size"])
