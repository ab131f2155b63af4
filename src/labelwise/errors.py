"""Typed errors. Each carries the offending path or field so the message can name it."""

from __future__ import annotations


class LabelwiseError(Exception):
    """Base class of every error labelwise raises on purpose."""


class EmptyPoolError(LabelwiseError, ValueError):
    """A query was made on a pool with no unlabeled item left."""


class UnknownStrategyError(LabelwiseError, KeyError):
    """A strategy name that the registry does not know."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown strategy {self.name!r}; known strategies: {', '.join(self.known)}"


class MissingEmbeddingError(LabelwiseError, KeyError):
    """An image whose content hash has no vector in the embedding store (a damaged store)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

    def __str__(self) -> str:
        return (
            f"no embedding for content hash {self.key}: the embedding store lacks an image's vector; "
            "run `labelwise check PROJECT --repair`"
        )


class NotEnoughClassesError(LabelwiseError, ValueError):
    """Training was asked for with fewer than two labeled classes."""


class DatasetUnavailableError(LabelwiseError, FileNotFoundError):
    """A built-in dataset whose files are not installed; the message says how to install them."""


class NotFoundError(LabelwiseError):
    """An image, class or annotation that does not exist (HTTP 404)."""


class ConflictError(LabelwiseError):
    """The request clashes with somebody else's work (HTTP 409)."""


class ForbiddenError(LabelwiseError):
    """The person may not do this (HTTP 403)."""
