"""Agreement figures: exact values against published and scikit-learn results, majority with ties,
and a simulated team whose known error rates come out in the right order."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from labelwise.loop.agreement import (
    agreement_with_majority,
    cohen_kappa,
    fleiss_kappa,
    label_counts,
    majority_labels,
)


def test_fleiss_kappa_of_the_published_example():
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories, kappa = 0.210.
    counts = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
                       [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
                       [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])  # fmt: skip
    kappa, n = fleiss_kappa(counts)
    assert kappa == pytest.approx(0.2099, abs=5e-4) and n == 10
    # Images labeled once carry no agreement and are not counted.
    assert fleiss_kappa(np.vstack([counts, [[1, 0, 0, 0, 0]]]))[1] == 10


def test_cohen_kappa_matches_scikit_learn_on_the_images_both_labeled():
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    b[:200] = a[:200]
    a_missing = a.copy()
    a_missing[250:] = -1  # not labeled by the first person: left out
    kappa, n = cohen_kappa(a_missing, b, 4)
    assert n == 250 and kappa == pytest.approx(cohen_kappa_score(a[:250], b[:250]))
    assert np.isnan(cohen_kappa(np.array([0, -1]), np.array([-1, 1]), 2)[0])


def test_majority_label_and_ties_go_to_review():
    ratings = np.array([[0, 0, 1], [2, 1, -1], [-1, -1, -1], [1, -1, 1]])
    labels, tied = majority_labels(ratings, 3)
    assert labels.tolist() == [0, -1, -1, 1] and tied.tolist() == [False, True, False, False]
    assert label_counts(ratings, 3).tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 0], [0, 2, 0]]
    with pytest.raises(ValueError, match="ratings"):
        majority_labels(np.array([[0, 3]]), 3)


def test_agreement_with_majority_leaves_the_persons_own_vote_out():
    ratings = np.array([[0, 0, 1], [1, 1, 1], [0, 1, 2]])
    rows = agreement_with_majority(ratings, 3)
    # Person 2: image 0 the others say 0 (disagrees), image 1 they say 1 (agrees), image 2 tied (not counted).
    assert (rows[2].agreement, rows[2].n_images) == (0.5, 2)
    assert (rows[0].agreement, rows[0].n_images) == (1.0, 1)  # image 0: others 0 and 1 tie


@pytest.mark.parametrize("per_image", [2, 3])
def test_a_simulated_team_ranks_by_its_error_rates(per_image):
    """Five people with known error rates label 10 classes; each image goes to ``per_image`` of them."""
    rng = np.random.default_rng(per_image)
    error = np.array([0.02, 0.1, 0.2, 0.3, 0.45])
    n_images, k = 1500, 10
    truth = rng.integers(0, k, n_images)
    ratings = np.full((n_images, error.size), -1)
    for i in range(n_images):
        for person in rng.choice(error.size, per_image, replace=False):
            wrong = rng.random() < error[person]
            ratings[i, person] = (truth[i] + rng.integers(1, k)) % k if wrong else truth[i]
    rows = agreement_with_majority(ratings, k)
    assert all(r.n_images > 200 for r in rows)
    agreement = np.array([r.agreement for r in rows])
    assert np.argsort(-agreement).tolist() == [0, 1, 2, 3, 4], agreement
    kappa, n = fleiss_kappa(label_counts(ratings, k))
    assert n == n_images and 0.4 < kappa < 0.8
