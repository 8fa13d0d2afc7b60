"""Deep models on light-curve windows, trained on Ray Train and tuned on Ray Tune.

* :mod:`.data` -- the window definition (10-min bins, 192-bin = 32-h windows),
  normalisation, simulated/labelled windows and the Ray Data pipeline;
* :mod:`.autoencoder`, :mod:`.transformer` -- anomaly models
  (``anomaly_score(x) -> [B]``, reconstruction error);
* :mod:`.gan` -- conditional GAN (``generate(n, depth_ppm, duration_hours)``);
* :mod:`.classifier` -- transit classifier on a pretrained encoder;
* :mod:`.registry` -- configs, ``build_model``, versioned save/load
  (safetensors, never pickle);
* :mod:`.train`, :mod:`.tune` -- Ray Train ``TorchTrainer`` and Ray Tune (ASHA).

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
