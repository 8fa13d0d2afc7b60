"""Ranking of transit candidates: features, calibrated models, active learning.

Public API::

    FEATURE_COLUMNS, candidate_features                      # exoray.rank.features
    Ranker, RankerConfig, MODEL_REGISTRY, evaluate,          # exoray.rank.ranker
    load_default_ranker, score_candidates
    uncertainty_queue, read_labels, append_labels,           # exoray.rank.active
    simulate_active_learning
Training data are built by :mod:`exoray.pipelines.training_data`
(``simulate_training_set``, ``real_training_set``, ``load_yu2019_tces``,
``load_kepler_dr24_tces``): making them runs the whole engine over simulated
and injected stars, which sits above this stage.
"""

from .active import append_labels, read_labels, simulate_active_learning, uncertainty_queue
from .features import FEATURE_COLUMNS, candidate_features
from .ranker import MODEL_REGISTRY, Ranker, RankerConfig, evaluate, load_default_ranker, score_candidates

__all__ = [
    "FEATURE_COLUMNS",
    "candidate_features",
    "Ranker",
    "RankerConfig",
    "MODEL_REGISTRY",
    "evaluate",
    "load_default_ranker",
    "score_candidates",
    "uncertainty_queue",
    "read_labels",
    "append_labels",
    "simulate_active_learning",
]
