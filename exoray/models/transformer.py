"""Patch transformer trained by masked-patch reconstruction.

A window ``x[B, L]`` is cut into ``L / patch_size`` non-overlapping patches;
each patch is linearly embedded, a learned position embedding is added and a
learned ``[MASK]`` token replaces the masked patches.  A small
``nn.TransformerEncoder`` sees the sequence and a linear head predicts each
patch's values.  Training masks a random ``mask_ratio`` of the patches and
scores the error on the masked ones only (as in masked auto-encoding), so the
model must infer a patch from its context: ordinary noise is predictable in
the mean, a transit's ingress, floor and egress are not.

:meth:`PatchTransformer.anomaly_score` is deterministic: it runs
``score_passes`` passes, each masking every ``score_passes``-th patch with a
different offset, so every patch is predicted from context exactly once, and
turns the residual into one number per window with
:func:`exoray.models.scores.residual_score`.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import torch
from torch import nn

from ..errors import ConfigError
from .scores import SCORES, residual_score

__all__ = ["PatchTransformer"]


class PatchTransformer(nn.Module):
    kind = "transformer"

    def __init__(self, window_length: int = 192, patch_size: int = 8, d_model: int = 32,
                 n_heads: int = 2, n_layers: int = 2, ff_mult: int = 2, dropout: float = 0.0,
                 mask_ratio: float = 0.3, score_passes: int = 4, score: str = "local_dip"):
        super().__init__()

        if score not in SCORES:
            raise ConfigError(f"transformer score must be one of {SCORES}, got {score!r}")
        self.score = score
        if window_length % patch_size:
            raise ConfigError(f"window_length={window_length} must be divisible by patch_size={patch_size}")
        if d_model % n_heads:
            raise ConfigError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        if not 0.0 < mask_ratio < 1.0:
            raise ConfigError(f"mask_ratio must be in (0, 1), got {mask_ratio}")
        self.window_length = int(window_length)
        self.patch_size = int(patch_size)
        self.n_patches = window_length // patch_size
        if not 1 <= score_passes <= self.n_patches:
            raise ConfigError(f"score_passes must be in [1, {self.n_patches}], got {score_passes}")
        self.mask_ratio = float(mask_ratio)
        self.score_passes = int(score_passes)
        self.d_model = int(d_model)
        self.embed = nn.Linear(patch_size, d_model)
        self.pos = nn.Parameter(torch.zeros(1, self.n_patches, d_model))
        nn.init.normal_(self.pos, std=0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d_model))
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=ff_mult * d_model,
                                           dropout=dropout, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, patch_size)

    @property
    def embedding_dim(self) -> int:
        return self.d_model

    def _patches(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], self.n_patches, self.patch_size)

    def _tokens(self, x: torch.Tensor, mask: Optional[torch.Tensor]) -> torch.Tensor:
        tok = self.embed(self._patches(x))
        if mask is not None:
            tok = torch.where(mask.unsqueeze(-1), self.mask_token.to(tok.dtype).expand_as(tok), tok)
        return self.norm(self.encoder(tok + self.pos))

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Predicted patches ``[B, n_patches, patch_size]``; ``mask[B, n_patches]`` True = hidden."""
        return self.head(self._tokens(x, mask))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Mean-pooled token embedding ``[B, d_model]`` (no masking)."""
        return self._tokens(x, None).mean(dim=1)

    def random_mask(self, batch: int, device=None, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        n_mask = max(1, int(round(self.mask_ratio * self.n_patches)))
        noise = torch.rand(batch, self.n_patches, device=device, generator=generator)
        idx = noise.argsort(dim=1)[:, :n_mask]
        mask = torch.zeros(batch, self.n_patches, dtype=torch.bool, device=device)
        mask.scatter_(1, idx, True)
        return mask

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared error on randomly masked patches."""
        mask = self.random_mask(x.shape[0], device=x.device)
        pred = self(x, mask)
        err = ((pred - self._patches(x)) ** 2).mean(dim=-1)
        return (err * mask).sum() / mask.sum()

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Every patch predicted from its context (``score_passes`` interleaved masks): ``[B, L]``."""
        out = torch.zeros_like(self._patches(x))
        k = self.score_passes
        idx = torch.arange(self.n_patches, device=x.device)
        for off in range(k):
            m = (idx % k == off).unsqueeze(0).expand(x.shape[0], -1)
            out = torch.where(m.unsqueeze(-1), self(x, m).to(out.dtype), out)
        return out.reshape(x.shape[0], -1)

    @torch.no_grad()
    def anomaly_score(self, x: torch.Tensor) -> torch.Tensor:
        """Error of every patch predicted from its context, one number per window ``[B]``.

        Aggregated as configured (``score``; default the largest
        box-averaged dip, :func:`exoray.models.scores.residual_score`).
        """
        return residual_score(x - self.reconstruct(x), self.score)

    @classmethod
    def from_config(cls, cfg: Mapping) -> "PatchTransformer":
        return cls(window_length=cfg["window_length"], patch_size=cfg["patch_size"], d_model=cfg["d_model"],
                   n_heads=cfg["n_heads"], n_layers=cfg["n_layers"], ff_mult=cfg["ff_mult"],
                   dropout=cfg["dropout"], mask_ratio=cfg["mask_ratio"], score_passes=cfg["score_passes"],
                   score=cfg["score"])
