"""The pre-selection rule alone: which class, if any, the annotate page pre-selects."""

from __future__ import annotations

from labelwise.project.preselect import preselection

TOP = [("Coat", 0.7), ("Shirt", 0.2), ("Dress", 0.1)]


def test_the_top_class_is_preselected_from_the_threshold_up():
    assert preselection(TOP, 0.6) == "Coat"
    assert preselection(TOP, 0.7) == "Coat"  # at the threshold counts
    assert preselection(TOP, 0.71) is None


def test_no_preselection_when_off_without_a_model_or_below_two_classes():
    assert preselection(TOP, None) is None
    assert preselection([], 0.0) is None  # no model yet: no top classes
    assert preselection([("Coat", 1.0)], 0.6) is None  # a model of one class is always sure
