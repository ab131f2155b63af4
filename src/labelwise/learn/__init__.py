"""Learners: scikit-learn style heads on embeddings, and committees of them."""

from labelwise.learn.committee import BootstrapCommittee, stratified_bootstrap
from labelwise.learn.heads import Head, default_estimator, softmax_rows

__all__ = ["BootstrapCommittee", "Head", "default_estimator", "softmax_rows", "stratified_bootstrap"]
