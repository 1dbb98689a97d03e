"""Machine-learning signals, Ray-free: features, labels, purged walk-forward validation, models, the registry.

The training job that distributes these steps is `pipelines.train_signals`; the strategy that trades on a
registered model is `strategies.ml_signal`.
"""

from trading.ml.features import FeatureSpec, build_features, feature_matrix
from trading.ml.labels import Labels, LabelSpec, direction_labels, forward_returns, make_labels, triple_barrier_labels
from trading.ml.registry import FeatureSpecMismatch, ModelManifest, ModelNotFound, ModelRegistry, RegisteredModel
from trading.ml.scoring import OVERFIT_AUC_DROP, classification_scores, overfit_warning
from trading.ml.training import TrainingConfig, load_training_config
from trading.ml.validation import Fold, HoldoutSplit, holdout_split, purged_folds

__all__ = [
    "OVERFIT_AUC_DROP",
    "FeatureSpec",
    "FeatureSpecMismatch",
    "Fold",
    "HoldoutSplit",
    "LabelSpec",
    "Labels",
    "ModelManifest",
    "ModelNotFound",
    "ModelRegistry",
    "RegisteredModel",
    "TrainingConfig",
    "build_features",
    "classification_scores",
    "direction_labels",
    "feature_matrix",
    "forward_returns",
    "holdout_split",
    "load_training_config",
    "make_labels",
    "overfit_warning",
    "purged_folds",
    "triple_barrier_labels",
]
