"""1-D convolutional autoencoder for light-curve windows.

Trained on windows *without* a transit, it learns to reproduce what ordinary
(detrended) stellar and instrumental noise looks like; a transit dip is
something it was never taught to draw, so its reconstruction error -- the
:meth:`ConvAutoencoder.anomaly_score` -- is large on windows that hold one.
The residual is turned into one number per window by
:func:`exoray.models.scores.residual_score` (largest box-averaged dip by
default; see that module for why not the plain mean square).

Architecture (``depth`` stages, ``base_channels`` doubling per stage)::

    x[B, L] -> Conv1d(k, stride 2) + GELU  x depth  -> flatten -> Linear -> z[B, latent_dim]
    z -> Linear -> reshape -> ConvTranspose1d(stride 2) + GELU  x depth -> Conv1d -> x_hat[B, L]

``L`` must be divisible by ``2**depth``.  :meth:`encode` returns the latent
vector ``z``; the classifier re-uses ``encoder`` + ``to_latent`` as its
pretrained feature extractor.
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from ..errors import ConfigError
from .scores import SCORES, residual_score

__all__ = ["ConvAutoencoder", "ConvEncoder"]


class ConvEncoder(nn.Module):
    """Strided 1-D conv stack + linear projection to a latent vector."""

    def __init__(self, window_length: int, base_channels: int, depth: int, latent_dim: int,
                 kernel_size: int, dropout: float = 0.0):
        super().__init__()
        if window_length % (2 ** depth):
            raise ConfigError(f"window_length={window_length} must be divisible by 2**depth={2 ** depth}")
        if kernel_size % 2 == 0:
            raise ConfigError(f"kernel_size must be odd, got {kernel_size}")
        layers = []
        c_in = 1
        for i in range(depth):
            c_out = base_channels * 2 ** i
            layers += [nn.Conv1d(c_in, c_out, kernel_size, stride=2, padding=kernel_size // 2),
                       nn.BatchNorm1d(c_out), nn.GELU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.out_channels = c_in
        self.out_length = window_length // 2 ** depth
        self.to_latent = nn.Linear(self.out_channels * self.out_length, latent_dim)
        self.latent_dim = latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, L]
        h = self.conv(x.unsqueeze(1))
        return self.to_latent(h.flatten(1))


class ConvAutoencoder(nn.Module):
    """Conv encoder, linear bottleneck, transposed-conv decoder."""

    kind = "autoencoder"

    def __init__(self, window_length: int = 192, base_channels: int = 16, depth: int = 3,
                 latent_dim: int = 16, kernel_size: int = 7, dropout: float = 0.0, score: str = "local_dip"):
        super().__init__()

        if score not in SCORES:
            raise ConfigError(f"autoencoder score must be one of {SCORES}, got {score!r}")
        self.score = score
        self.window_length = int(window_length)
        self.encoder = ConvEncoder(window_length, base_channels, depth, latent_dim, kernel_size, dropout)
        c, n = self.encoder.out_channels, self.encoder.out_length
        self.from_latent = nn.Linear(latent_dim, c * n)
        layers = []
        for i in reversed(range(depth)):
            c_out = base_channels * 2 ** (i - 1) if i > 0 else base_channels
            layers += [nn.ConvTranspose1d(c, c_out, kernel_size=4, stride=2, padding=1),
                       nn.BatchNorm1d(c_out), nn.GELU()]
            c = c_out
        layers.append(nn.Conv1d(c, 1, kernel_size, padding=kernel_size // 2))
        self.decoder = nn.Sequential(*layers)
        self._c0 = self.encoder.out_channels

    @property
    def embedding_dim(self) -> int:
        return self.encoder.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent vector ``[B, latent_dim]`` of windows ``x[B, L]``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.from_latent(z).view(z.shape[0], self._c0, self.encoder.out_length)
        return self.decoder(h).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction ``x_hat[B, L]``."""
        return self.decode(self.encode(x))

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Training loss: mean squared reconstruction error."""
        return torch.mean((self(x) - x) ** 2)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """Per-window reconstruction error ``[B]`` (higher = more anomalous).

        Aggregated as configured (``score``): the largest box-averaged dip of
        the residual by default (:func:`exoray.models.scores.residual_score`).
        """
        return residual_score(x - self(x), self.score)

    @classmethod
    def from_config(cls, cfg: Mapping) -> "ConvAutoencoder":
        return cls(window_length=cfg["window_length"], base_channels=cfg["base_channels"],
                   depth=cfg["depth"], latent_dim=cfg["latent_dim"], kernel_size=cfg["kernel_size"],
                   dropout=cfg["dropout"], score=cfg["score"])
