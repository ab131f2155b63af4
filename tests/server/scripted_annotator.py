"""A scripted annotator for the annotate page (issue 12, "Measure"): it knows every image's true class
(the fixture's folder) and presses Enter when the page pre-selected that class, else the class's key.

Used by the browser test (a few dozen labels) and ``benchmarks/bench_one_key.py`` (the issue's 200).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page, expect

LOOK_MS = 200  # past the page's 150 ms minimum display time


@dataclass
class Script:
    labels: int = 0
    keystrokes: int = 0
    enters: int = 0  # accepted pre-selections
    offered: int = 0  # images shown with a pre-selected class
    wrong_preselections: int = 0  # pre-selected, but not the true class: overridden with its key

    def summary(self) -> str:
        per_label = self.keystrokes / self.labels if self.labels else float("nan")
        accepted = self.enters / self.labels if self.labels else float("nan")
        return (
            f"{self.labels} labels, {self.keystrokes} keystrokes ({per_label:.2f} per label); "
            f"pre-selected {self.offered}, accepted {self.enters} ({accepted:.0%} of labels), "
            f"overridden {self.wrong_preselections}"
        )


def true_class(path: str) -> str:
    return path.split("/")[0]  # the fixture's folders are the classes


def label_by_script(page: Page, labels: int, screenshot: Path | None = None) -> Script:
    """Label ``labels`` images on an open annotate page, one keystroke each: Enter when the
    pre-selected class is the true one, the true class's key otherwise. ``screenshot``: where to save
    the page the first time it shows a pre-selection."""
    script = Script()
    for _ in range(labels):
        page.wait_for_selector("#current[data-shown]")
        page.wait_for_timeout(LOOK_MS)
        path = page.inner_text("#path")
        truth = true_class(path)
        chosen = page.eval_on_selector_all("button.cls.preselected", "bs => bs.map(b => b.dataset.class)")
        if chosen:
            script.offered += 1
            if screenshot is not None and script.offered == 1:
                page.screenshot(path=str(screenshot))
        if chosen == [truth]:
            page.keyboard.press("Enter")
            script.enters += 1
        else:
            script.wrong_preselections += bool(chosen)
            page.keyboard.press(page.get_attribute(f'button.cls[data-class="{truth}"]', "data-key"))
        script.keystrokes += 1
        script.labels += 1
        # The page's script policy forbids evaluated strings: wait through locators, not wait_for_function.
        expect(page.locator("#path")).not_to_have_text(path)
    expect(page.locator("#done-count")).to_have_text(str(labels))
    return script
