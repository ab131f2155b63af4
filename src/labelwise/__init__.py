"""labelwise: active learning for image annotation."""

__version__ = "0.1.0"
