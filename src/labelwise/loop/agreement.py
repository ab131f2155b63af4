"""Agreement between annotators who labeled the same images: kappas, agreement with the majority,
and the majority label (ties go to review).

Ratings are one array ``(n_images, n_annotators)`` of class positions, ``-1`` where that person
did not label that image. Every figure comes with the number of images it rests on.

References
----------
Cohen. "A coefficient of agreement for nominal scales." Educational and Psychological Measurement 20 (1960).
Fleiss. "Measuring nominal scale agreement among many raters." Psychological Bulletin 76 (1971).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MISSING = -1


def _check(ratings: np.ndarray, n_classes: int) -> np.ndarray:
    ratings = np.asarray(ratings)
    if ratings.ndim != 2:
        raise ValueError(f"ratings: expected (n_images, n_annotators), got shape {ratings.shape}")
    if ratings.size and (ratings.max() >= n_classes or ratings.min() < MISSING):
        raise ValueError(f"ratings: class positions in [0, {n_classes}) or -1 (not labeled), got {ratings.min()}..")
    return ratings


def label_counts(ratings: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_images, n_classes)``: how many people gave each image each class."""
    ratings = _check(ratings, n_classes)
    counts = np.zeros((ratings.shape[0], n_classes), dtype=np.int64)
    rows, cols = np.nonzero(ratings != MISSING)
    np.add.at(counts, (rows, ratings[rows, cols]), 1)
    return counts


def majority_labels(ratings: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The label most people gave each image, and whether the top is tied.

    Returns ``labels`` ``(n_images,)`` (``-1`` for a tie or no label: those go to review, not to
    training) and ``tied`` ``(n_images,)`` bool.
    """
    counts = label_counts(ratings, n_classes)
    top = counts.max(axis=1, initial=0)
    tied = (top > 0) & ((counts == top[:, None]).sum(axis=1) > 1)
    labels = np.where((top > 0) & ~tied, counts.argmax(axis=1), MISSING)
    return labels, tied


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_classes: int) -> tuple[float, int]:
    r"""Cohen's kappa of two people over the images both labeled, and how many those are.

    :math:`\kappa = (p_o - p_e) / (1 - p_e)` with :math:`p_o` the share of images given the same class
    and :math:`p_e = \sum_j p_{a,j} p_{b,j}` the agreement expected by chance from each person's class
    shares. NaN when they share no image, or when chance agreement is already 1.
    """
    both = _check(np.stack([np.asarray(a), np.asarray(b)], axis=1), n_classes)
    both = both[(both != MISSING).all(axis=1)]
    n = both.shape[0]
    if n == 0:
        return float("nan"), 0
    observed = float((both[:, 0] == both[:, 1]).mean())
    pa = np.bincount(both[:, 0], minlength=n_classes) / n
    pb = np.bincount(both[:, 1], minlength=n_classes) / n
    expected = float(pa @ pb)
    if expected >= 1.0:
        return float("nan"), n
    return (observed - expected) / (1.0 - expected), n


def fleiss_kappa(counts: np.ndarray) -> tuple[float, int]:
    r"""Fleiss' kappa from per-image class counts ``(n_images, n_classes)``, over the images with two
    labels or more (the number of people may differ per image), and how many those are.

    :math:`P_i = \sum_j n_{ij}(n_{ij}-1) / (n_i(n_i-1))`, :math:`\bar P` their mean,
    :math:`p_j = \sum_i n_{ij} / \sum_i n_i`, :math:`P_e = \sum_j p_j^2`,
    :math:`\kappa = (\bar P - P_e) / (1 - P_e)`.
    """
    counts = np.asarray(counts, dtype=np.float64)
    per_image = counts.sum(axis=1)
    counts = counts[per_image >= 2]
    per_image = per_image[per_image >= 2]
    n = counts.shape[0]
    if n == 0:
        return float("nan"), 0
    agreement = ((counts * (counts - 1)).sum(axis=1) / (per_image * (per_image - 1))).mean()
    shares = counts.sum(axis=0) / per_image.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:
        return float("nan"), n
    return float((agreement - expected) / (1.0 - expected)), n


@dataclass(frozen=True)
class AnnotatorAgreement:
    annotator: int  # column of the ratings
    agreement: float  # share of their labels equal to the others' majority; NaN with no such image
    n_images: int  # images where the others have a strict majority


def agreement_with_majority(ratings: np.ndarray, n_classes: int) -> list[AnnotatorAgreement]:
    """For each person: how often their label equals the majority of the *others* on the same image.

    The person's own vote is left out, so that it cannot make the majority it is compared with;
    images where the others are tied (or nobody else labeled) are not counted.
    """
    ratings = _check(ratings, n_classes)
    counts = label_counts(ratings, n_classes)
    out = []
    for person in range(ratings.shape[1]):
        mine = ratings[:, person]
        rated = np.flatnonzero(mine != MISSING)
        others = counts[rated].copy()
        others[np.arange(rated.size), mine[rated]] -= 1
        top = others.max(axis=1, initial=0)
        strict = (top > 0) & ((others == top[:, None]).sum(axis=1) == 1)
        n = int(strict.sum())
        agree = float((others[strict].argmax(axis=1) == mine[rated][strict]).mean()) if n else float("nan")
        out.append(AnnotatorAgreement(person, agree, n))
    return out
