"""exoray.anomaly: anomaly scores for light-curve windows and single transit events.

Modules (imported lazily; nothing heavy at package import):

* :mod:`~exoray.anomaly.ocsvm` - One-Class SVM on window features (baseline);
* :mod:`~exoray.anomaly.scoring` - :func:`~exoray.anomaly.scoring.score_windows` by method
  (``ocsvm``, ``autoencoder``, ``transformer``, ``combined``);
* :mod:`~exoray.anomaly.single_event` - single-transit candidate rows for ``candidates.parquet``.

Their evaluation (ROC/PR-AUC by SNR bin) and the export of the models
(ONNX, int8, pruning, distillation) are in :mod:`exoray.training`.
"""
