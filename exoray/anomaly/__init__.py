"""exoray.anomaly: anomaly scores for light-curve windows, single transit events, evaluation and export.

Modules (imported lazily; nothing heavy at package import):

* :mod:`~exoray.anomaly.ocsvm` - One-Class SVM on window features (baseline);
* :mod:`~exoray.anomaly.scoring` - :func:`~exoray.anomaly.scoring.score_windows` by method
  (``ocsvm``, ``autoencoder``, ``transformer``, ``combined``);
* :mod:`~exoray.anomaly.single_event` - single-transit candidate rows for ``candidates.parquet``;
* :mod:`~exoray.anomaly.evaluate` - ROC/PR-AUC by SNR bin, transfer learning, augmentation ablation;
* :mod:`~exoray.anomaly.export` - ONNX export, int8 quantisation, pruning, distillation;
* :mod:`~exoray.anomaly.commands` - ``exoray evaluate anomaly|transfer|augmentation``, ``exoray export``.
"""
