"""exoray.training: making the deep models -- data, training, tuning, evaluation and export.

Modules (imported lazily; nothing heavy at package import):

* :mod:`.data` -- labelled windows from the simulator's truth, simulated stars
  and the Ray Data pipeline (the window itself is :mod:`exoray.models.windows`);
* :mod:`.augment` -- augmentations of labelled windows (noise, warp, mixup, GAN samples);
* :mod:`.train`, :mod:`.tune` -- Ray Train ``TorchTrainer`` and Ray Tune (ASHA);
* :mod:`.evaluate` -- ROC/PR-AUC of the anomaly scores by SNR bin, transfer
  learning and the augmentation ablation;
* :mod:`.export` -- ONNX export, int8 quantisation, pruning, distillation;
* :mod:`.commands` -- ``exoray train {autoencoder,transformer,gan,classifier}``, ``exoray tune``;
* :mod:`.evaluate_commands` -- ``exoray evaluate anomaly|transfer|augmentation``, ``exoray export``.

The package sits above the models it trains and the anomaly scores it
evaluates; nothing below imports it.
"""
