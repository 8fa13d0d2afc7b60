"""Transit classifier: a small head on a pretrained window encoder.

Transfer learning: the encoder of a trained :class:`~.autoencoder.ConvAutoencoder`
(its conv stack + latent projection) or of a :class:`~.transformer.PatchTransformer`
(patch embedding + transformer, mean-pooled) is re-used as the feature
extractor, and an MLP head maps its embedding to one logit ("a transit is in
this window").  The encoder can be frozen (only the head learns; BatchNorm
statistics stay fixed) or fine-tuned.

The encoder weights come from :meth:`TransitClassifier.load_encoder_from`,
which accepts a trained autoencoder/transformer module or its ``state_dict``
(e.g. ``load_model("autoencoder")[0]``).  The training code does this for the
``pretrained`` config key (``"autoencoder"``, ``"transformer:3"``, or a
registry version folder).  A saved classifier holds its own encoder weights,
so loading it never needs the original encoder.
"""

from __future__ import annotations

from typing import Mapping, Union

import torch
from torch import nn

from ..errors import ConfigError
from .autoencoder import ConvAutoencoder
from .transformer import PatchTransformer

__all__ = ["TransitClassifier"]

ENCODERS = ("autoencoder", "transformer")


class TransitClassifier(nn.Module):
    kind = "classifier"

    def __init__(self, encoder: str, encoder_config: Mapping, hidden: int = 32, dropout: float = 0.1,
                 freeze_encoder: bool = True):
        super().__init__()
        if encoder not in ENCODERS:
            raise ConfigError(f"classifier encoder must be one of {ENCODERS}, got {encoder!r}")
        self.encoder_kind = encoder
        if encoder == "autoencoder":
            ae = ConvAutoencoder.from_config(encoder_config)
            self.encoder: nn.Module = ae.encoder
            dim = ae.embedding_dim
        else:
            tr = PatchTransformer.from_config(encoder_config)
            tr.head = nn.Identity()  # reconstruction head is not part of the encoder
            tr.mask_token.requires_grad_(False)  # unused without masking (keeps DDP happy)
            self.encoder = tr
            dim = tr.embedding_dim
        self.window_length = int(encoder_config["window_length"])
        self.head = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, 1))
        self.frozen = False
        self.set_encoder_trainable(not freeze_encoder)

    # ------------------------------------------------------------------ transfer learning
    def set_encoder_trainable(self, trainable: bool) -> None:
        """Freeze (``False``) or unfreeze (``True``) the encoder."""
        for name, p in self.encoder.named_parameters():
            if name == "mask_token":
                continue
            p.requires_grad_(bool(trainable))
        self.frozen = not trainable
        if self.frozen:
            self.encoder.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:  # a frozen encoder keeps its BatchNorm statistics
            self.encoder.eval()
        return self

    def load_encoder_from(self, source: Union[nn.Module, Mapping[str, torch.Tensor]]) -> "TransitClassifier":
        """Copy encoder weights from a trained autoencoder/transformer (module or state_dict).

        Raises
        ------
        ConfigError
            When the source's architecture does not match this classifier's
            ``encoder_config`` (the message lists the mismatching keys).
        """
        state = source.state_dict() if isinstance(source, nn.Module) else dict(source)
        if self.encoder_kind == "autoencoder":
            prefix = "encoder."
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        else:
            sub = {k: v for k, v in state.items() if not k.startswith("head.")}
        own = self.encoder.state_dict()
        missing = sorted(set(own) - set(sub))
        bad = sorted(k for k in own if k in sub and tuple(sub[k].shape) != tuple(own[k].shape))
        if missing or bad:
            raise ConfigError(
                f"pretrained {self.encoder_kind} does not match the classifier's encoder_config: "
                f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, shape mismatch {bad[:5]}; "
                "build the classifier with the encoder's config (config.json of the registered model)")
        self.encoder.load_state_dict({k: sub[k] for k in own}, strict=True)
        return self

    # ------------------------------------------------------------------ forward
    @property
    def embedding_dim(self) -> int:
        return self.head[0].in_features

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder_kind == "autoencoder":
            return self.encoder(x)
        return self.encoder.encode(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``[B]`` (positive = transit)."""
        return self.head(self.embed(x)).squeeze(1)

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(x))

    @classmethod
    def from_config(cls, cfg: Mapping) -> "TransitClassifier":
        return cls(encoder=cfg["encoder"], encoder_config=cfg["encoder_config"], hidden=cfg["hidden"],
                   dropout=cfg["dropout"], freeze_encoder=cfg["freeze_encoder"])

