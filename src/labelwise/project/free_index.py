"""The queue's in-memory index of a ranking: which of its images may still be free, in ranking order.

Without it, every request walked the ranking from its first entry and asked the database which images
of each chunk of 256 were free; a ranking that people have labeled half-way through was read again and
again. The index remembers what a request learned for good (this image is labeled) and what requests
in flight are trying right now (claims), so a request asks the database about a handful of images
near the front only.

The database stays the authority. An image the index offers is checked (free, by the one definition
in :mod:`labelwise.project.queue`) and leased with ``INSERT ... ON CONFLICT DO NOTHING``: a stale index
costs a wasted candidate, never a double lease. The index never holds back an image for a reason that
can change without this process seeing it, except a label: an undo in this process frees the image
again (``note_free``), and a new ranking starts a new index. Live leases are not remembered: they end
by time, and another process (or an administrator) can end them early.

One index per project per process. ``labelwise serve`` runs one process (uvicorn without workers,
requests in its thread pool), so every request shares it; a second process would keep its own and still
be correct, only less helped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

# A claim keeps concurrent requests of this process from trying the same image; it is dropped when the
# request ends, and runs out by itself after this long if its request never ends (a hung database).
CLAIM_S = 30.0
_FOREVER = float("inf")


class FreeIndex:
    """The image ids of one ranking, in order, with what is known to be taken.

    ``claim`` hands out the next ids not known to be labeled and not claimed by a request in flight;
    ``settle`` records what the request found; a request that fails calls ``release``.
    """

    def __init__(self, order: Sequence[int]) -> None:
        self._order = [int(i) for i in order]
        self._labeled: set[int] = set()
        self._claimed: dict[int, float] = {}  # image id -> monotonic time the claim runs out
        # image id -> when its lease runs out (seconds since the epoch), as last seen: still offered and
        # checked (the lease may end early), but not counted toward what a request asked for
        self._leased: dict[int, float] = {}
        self._head = 0  # every entry before it is labeled
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._order)

    def claim(self, k: int) -> list[int]:
        """The next ids in ranking order not known to be labeled and not claimed (by any request, the
        caller's included, so a request is offered each id once): ``k`` of them, plus those seen leased
        on the way (checked too: a lease can end early). They are claimed until ``settle`` or ``release``."""
        now, wall = time.monotonic(), time.time()
        out: list[int] = []
        counted = 0
        with self._lock:
            while self._head < len(self._order) and self._order[self._head] in self._labeled:
                self._head += 1
            for position in range(self._head, len(self._order)):
                if counted >= k:
                    break
                image_id = self._order[position]
                if image_id in self._labeled or self._claimed.get(image_id, 0.0) > now:
                    continue
                self._claimed[image_id] = now + CLAIM_S
                out.append(image_id)
                counted += self._leased.get(image_id, 0.0) <= wall
        return out

    def release(self, image_ids: Sequence[int] | set[int]) -> None:
        """Drop the caller's claims: the images may be offered to the next request."""
        with self._lock:
            for image_id in image_ids:
                self._claimed.pop(image_id, None)

    def settle(
        self, claimed: Sequence[int] | set[int], labeled: Sequence[int] | set[int], leased: dict[int, float]
    ) -> None:
        """After the request's transaction committed: its claims end; ``labeled`` (images it found
        labeled, or with a lease row marked done) are never offered again by this index; ``leased``:
        image id -> when its live lease runs out (seconds since the epoch), as the request saw or made it."""
        with self._lock:
            self._labeled.update(int(i) for i in labeled)
            for image_id in claimed:
                self._claimed.pop(image_id, None)
                self._leased.pop(image_id, None)  # seen now: what is still leased is in ``leased``
            self._leased.update(leased)

    def note_free(self, image_id: int) -> None:
        """An image this process made unlabeled again (undo): offered again."""
        with self._lock:
            self._labeled.discard(image_id)
            self._leased.pop(image_id, None)
            position = self._order.index(image_id) if image_id in self._order else len(self._order)
            self._head = min(self._head, position)


class _Registry:
    """The index of each project's current ranking (keyed by project folder), held with the ranking
    object itself, so that a new ranking (a new object, even one equal to the old) gets a new index."""

    def __init__(self) -> None:
        self._by_project: dict[str, tuple[object, FreeIndex]] = {}
        self._lock = threading.Lock()

    def index(self, project_key: str, ranking: object, order: Callable[[], Sequence[int]]) -> FreeIndex:
        """The index of ``ranking``; ``order`` (its image ids, best first) is read only for a new one."""
        with self._lock:
            held = self._by_project.get(project_key)
            if held is None or held[0] is not ranking:
                held = (ranking, FreeIndex(order()))
                self._by_project[project_key] = held
            return held[1]

    def note_free(self, project_key: str, image_id: int) -> None:
        with self._lock:
            held = self._by_project.get(project_key)
        if held is not None:
            held[1].note_free(image_id)


INDEXES = _Registry()
