"""Deep models on light-curve windows, and the one registry every saved model goes through.

* :mod:`.windows` -- the window definition (10-min bins, 192-bin = 32-h
  windows) and normalisation, shared by training and inference;
* :mod:`.autoencoder`, :mod:`.transformer` -- anomaly models
  (``anomaly_score(x) -> [B]``, reconstruction error); :mod:`.scores` their
  window scores;
* :mod:`.gan` -- conditional GAN (``generate(n, depth_ppm, duration_hours)``);
* :mod:`.classifier` -- transit classifier on a pretrained encoder;
* :mod:`.registry` -- configs, ``build_model``, and the model registry:
  folder layout, versions, manifests, atomic publishing and integrity checks
  for every kind of saved model (torch models here; the OCSVM, the combined
  anomaly score and the candidate ranker through adapters their own packages
  register);
* :mod:`.commands` -- ``exoray models``.

Training, tuning, evaluation and export are in :mod:`exoray.training`.
Heavy imports (torch, ray) happen inside the submodules, not here.
"""

from .registry import (  # noqa: F401
    MODEL_NAMES,
    build_model,
    default_config,
    default_registry,
    list_models,
    load_model,
    save_model,
)
