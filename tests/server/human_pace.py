"""Two annotators at human pace on the annotate page (issue 20, "Measure"), in Debian's Chromium.

Each person presses a class key every 0.8-2 s; some presses are key holds (auto-repeat), some double
taps, some clicks on a class button; each person goes idle once past the lease. The pages are
watched from outside the app's own code (an init script): when each image was marked painted
(``#current[data-shown]``), every label request with its answer, and every message shown. Used by
the browser test (a few dozen labels) and by ``benchmarks/bench_human_pace.py`` (300).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from playwright.sync_api import Browser, Page
from sqlalchemy import select

from labelwise.project import Project
from labelwise.store.models import Annotation

# What the pages did, recorded outside the page's own code: paint marks, label requests, messages.
WATCH = """
(() => {
  const pace = (window.__pace = { shown: {}, posts: [], msgs: [] });
  const idOf = (src) => {
    const m = /\\/api\\/images\\/(\\d+)\\/file/.exec(src || "");
    return m ? Number(m[1]) : null;
  };
  let lastMsg = "";
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes" && r.target.id === "current" && r.target.dataset.shown) {
        pace.shown[idOf(r.target.src)] = performance.now();
      }
    }
    const msg = document.getElementById("msg");
    if (msg && msg.textContent !== lastMsg) { lastMsg = msg.textContent; pace.msgs.push(lastMsg); }
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true,
                         attributeFilter: ["data-shown"] });
  const realFetch = window.fetch;
  window.fetch = async (url, options) => {
    let post = null;
    if (String(url).endsWith("/api/annotations") && options && options.method === "POST") {
      const body = JSON.parse(options.body);
      const shown = pace.shown[body.image_id];
      post = { image_id: body.image_id, look_ms: shown === undefined ? -1 : performance.now() - shown,
               status: null, detail: null };
      pace.posts.push(post);
    }
    const response = await realFetch(url, options);
    if (post) {
      post.status = response.status;
      if (!response.ok) {
        try { post.detail = (await response.clone().json()).detail; } catch (e) { post.detail = "?"; }
      }
    }
    return response;
  };
})();
"""


@dataclass
class Person:
    name: str
    page: Page
    rng: random.Random
    idle_after: list[int]  # go idle after this many label attempts
    attempts: int = 0
    next_at: float = 0.0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("press", "hold", "double_tap", "click", "idle"), 0))  # fmt: skip


@dataclass
class PaceReport:
    labels_attempted: int
    accepted: int  # 201 answers
    double_labels: int  # 201 answers beyond one per image and person
    refused: int
    refusals: list[str]
    unexplained: list[str]
    too_fast_messages: int
    went_elsewhere_messages: int
    look_ms: list[float]
    silent_overwrites: list[str]
    actions: dict[str, int]
    seconds: float

    def summary(self) -> str:
        looks = sorted(self.look_ms)
        median = looks[len(looks) // 2] if looks else float("nan")
        return (
            f"{self.labels_attempted} label attempts in {self.seconds:.0f} s: {self.accepted} accepted, "
            f"{self.refused} refused by the server ({len(self.unexplained)} unexplained), "
            f"{self.too_fast_messages} 'too fast' blocks, {self.went_elsewhere_messages} 'went to someone else' "
            f"notices; look time before a label min {looks[0] if looks else float('nan'):.0f} ms, median "
            f"{median:.0f} ms; {len(self.silent_overwrites)} silent overwrites; actions {self.actions}"
        )


def _open(browser: Browser, url: str, token: str) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.add_init_script(WATCH)
    page.goto(f"{url}/login?token={token}")
    page.goto(f"{url}/annotate")
    page.wait_for_selector("#current[data-shown]")
    return page


def _act(person: Person, keys: list[str]) -> None:
    """One deliberate label, as people give them: mostly a key press, sometimes held, doubled or clicked."""
    page, rng = person.page, person.rng
    key = rng.choice(keys)
    roll = rng.random()
    if roll < 0.1:  # held for about 0.2 s: the browser repeats keydown with repeat=true
        for _ in range(6):
            page.keyboard.down(key)
        page.keyboard.up(key)
        person.counts["hold"] += 1
    elif roll < 0.2:  # a double tap: the second press lands on the next image a few ms after it appears
        page.keyboard.press(key)
        page.keyboard.press(key)
        person.counts["double_tap"] += 1
    elif roll < 0.3:
        buttons = page.locator("button.cls:visible")
        buttons.nth(rng.randrange(buttons.count())).click()
        person.counts["click"] += 1
    else:
        page.keyboard.press(key)
        person.counts["press"] += 1
    person.attempts += 1


def play_two_annotators(
    browser: Browser,
    url: str,
    tokens: dict[str, str],
    folder,
    labels: int,
    idle_s: float,
    idle_every: int,
    seed: int = 0,
) -> PaceReport:
    """Two people (user name -> token) label ``labels`` images between them at 0.8-2 s per label; each goes idle for
    ``idle_s`` seconds once every ``idle_every`` of their own label attempts (first after a third of
    that). Returns what the pages showed and what the database holds."""
    start = time.monotonic()
    people = []
    for n, (name, token) in enumerate(tokens.items()):
        rng = random.Random(seed * 100 + n)
        first = idle_every // 3 + n * (idle_every // 2)  # the two idle at different times
        idles = list(range(first, labels, idle_every))
        people.append(
            Person(name, _open(browser, url, token), rng, idles, next_at=time.monotonic() + rng.uniform(0.8, 2))
        )
    keys = [k for k in people[0].page.locator("button.cls kbd").all_inner_texts() if k]
    while sum(p.attempts for p in people) < labels:
        person = min(people, key=lambda p: p.next_at)
        time.sleep(max(0.0, person.next_at - time.monotonic()))
        _act(person, keys)
        pause = person.rng.uniform(0.8, 2.0)
        if person.idle_after and person.attempts >= person.idle_after[0]:
            person.idle_after.pop(0)
            person.counts["idle"] += 1
            pause += idle_s
        person.next_at = time.monotonic() + pause
    time.sleep(2.0)  # the last answers arrive
    seconds = time.monotonic() - start
    report = _collect(people, folder, labels, seconds)
    for person in people:
        person.page.close()
    return report


def _collect(people: list[Person], folder, labels: int, seconds: float) -> PaceReport:
    posts, refusals, unexplained, looks = [], [], [], []
    too_fast = elsewhere = 0
    actions: dict[str, int] = {}
    accepted_by: dict[str, set[int]] = {}
    accepted = 0
    for person in people:
        pace = person.page.evaluate("window.__pace")
        msgs = pace["msgs"]
        too_fast += sum("too fast" in m for m in msgs)
        elsewhere += sum("went to someone else" in m for m in msgs)
        for post in pace["posts"]:
            posts.append(post)
            looks.append(post["look_ms"])
            if post["status"] == 201:
                accepted += 1
                accepted_by.setdefault(person.name, set()).add(post["image_id"])
            else:
                refusals.append(f"{person.name}: {post['status']} {post['detail']}")
                # Explained: the page showed the server's reason.
                if not any(post["detail"] and post["detail"] in m and "Not saved" in m for m in msgs):
                    unexplained.append(f"{person.name}: {post['status']} {post['detail']}")
        for k, v in person.counts.items():
            actions[k] = actions.get(k, 0) + v
    # Silent overwrite: a label the server accepted (201) that is no longer the image's current label,
    # or is now somebody else's. Nobody undoes or relabels here, so every accepted label must stand.
    project = Project(folder)
    try:
        with project.sessions() as session:
            current = dict(
                session.execute(
                    select(Annotation.image_id, Annotation.annotator).where(Annotation.superseded.is_(False))
                ).all()
            )
    finally:
        project.close()
    overwritten = [
        f"image {image_id}: accepted from {name}, now {current.get(image_id)}"
        for name, ids in accepted_by.items()
        for image_id in ids
        if current.get(image_id) != name
    ]
    return PaceReport(
        labels_attempted=labels, accepted=accepted, double_labels=accepted - sum(len(v) for v in accepted_by.values()),
        refused=len(refusals),
        refusals=refusals, unexplained=unexplained, too_fast_messages=too_fast, went_elsewhere_messages=elsewhere,
        look_ms=looks, silent_overwrites=overwritten, actions=actions, seconds=seconds,
    )  # fmt: skip
