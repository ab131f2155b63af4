"""Strategies: pure scoring and selection functions over arrays."""

from labelwise.strategies import builtin as _builtin  # noqa: F401  (registers the strategies)
from labelwise.strategies import multilabel as _multilabel  # noqa: F401  (registers the multi-label ones)
from labelwise.strategies.registry import PoolView, Strategy, get_strategy, register, strategy_names
from labelwise.strategies.selection import Selection, select_top, top_k
from labelwise.strategies.uncertainty import (
    bald,
    entropy,
    least_confidence,
    margin,
    random_scores,
    variance,
)

__all__ = [
    "PoolView",
    "Selection",
    "Strategy",
    "bald",
    "entropy",
    "get_strategy",
    "least_confidence",
    "margin",
    "random_scores",
    "register",
    "select_top",
    "strategy_names",
    "top_k",
    "variance",
]
