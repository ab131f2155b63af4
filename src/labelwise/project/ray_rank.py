"""Rank a pool on a Ray cluster: score shards of the store in Ray tasks, merge their top-k.

Only the embeddings of the labeled images come to the driver, which trains the head exactly as
:func:`labelwise.project.suggest.suggest` does (the loop from :func:`labelwise.project.rank.make_loop`);
so the head must be one that learns from the labeled images alone: the project's ``head`` setting
must be ``logistic`` (the semi-supervised heads, and ``auto``, which may choose them, read the whole pool).
Each task reads its shard of the store's vectors
(on a shared file system), projects them, predicts and scores them with the strategy's own score
function, and returns its best items. The merge reproduces
:func:`labelwise.strategies.selection.select_top_split` draw for draw: the same candidate subset,
the same random tie order (a task ranks ties by their position in the driver's permutation), the
same explorers, so the top-k is the local ranking's.

Per-image scoring strategies shard (least-confidence, margin, entropy, variance, bald; random
needs no model). Set strategies (typiclust, probcover, kcenter, badge, cluster-margin, auto)
choose a batch by clustering or covering the whole pool at once: they are refused with --ray.
What still needs the whole pool on the driver: the PCA projection, fitted once per pool size
(then reused from ``models/pca.npz``) exactly as the local path fits it.

The server's worker ranks here too when ``labelwise.toml`` sets ``ray_address`` (:func:`rank_for_worker`),
with the same rule: per-image strategies shard, a set strategy is ranked on the worker's machine and
the ranking says so (``Ranking.note``, on the dashboard and in the log).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import select

from labelwise.embed.projection import apply_pca, project_features
from labelwise.embed.store import read_rows
from labelwise.errors import LabelwiseError
from labelwise.learn.committee import BootstrapCommittee
from labelwise.project.labels import current_labels
from labelwise.project.multilabel_model import train_and_rank_multilabel
from labelwise.project.pool import PoolCache
from labelwise.project.project import Project
from labelwise.project.rank import make_loop
from labelwise.project.ray_cluster import cluster_now, connect
from labelwise.project.suggest import Suggestion, Suggestions, check_classes
from labelwise.project.training import QueueEntry, Ranking, batch_size, ranking_path, train_and_rank
from labelwise.store.models import STATUS_OK, Image, ModelVersion
from labelwise.strategies import PoolView, Strategy, get_strategy, strategy_names
from labelwise.strategies.selection import add_explorers, candidate_subset, check_batch_controls, selectable_indices

SHARD_ROWS = 100_000  # rows per task: 0.5 GB of 1280-d vectors at most in a worker
ROWWISE = frozenset({"probs", "samples"})
SHARDED_HEAD = "logistic"  # the one head that learns from the labeled images alone


def shardable(strategy: Strategy) -> bool:
    """A score per image that depends only on that image's predictions (or none): shards agree."""
    return strategy.score is not None and strategy.needs <= ROWWISE


log = logging.getLogger("labelwise.worker")


def ray_address(project: Project) -> str | None:
    """``ray_address`` in ``labelwise.toml``: where the server's worker ranks (None: on its own machine)."""
    address = project.config.extra.get("ray_address")
    if address is None or address == "":
        return None
    if not isinstance(address, str):
        raise LabelwiseError(
            f"{project.folder / 'labelwise.toml'}: ray_address must be a string (local, auto, host:port or "
            f"ray://host:10001), not {address!r}"
        )
    return address


def rank_for_worker(
    project: Project, settings: dict[str, Any], address: str, pool_cache: PoolCache | None = None
) -> Ranking:
    """The server's worker's retrain with ``ray_address`` set: the ranking of ``suggest --ray``.

    A per-image strategy: the head is trained on the driver and the pool scored in shards on the
    cluster; the queue is the first ``queue_size`` of that ranking (the same images, in the same
    order, as ``labelwise suggest --ray`` and the local ``suggest``), cut into batches of
    ``retrain_every`` per annotator. As with ``suggest``, the head is the logistic one and no audit
    images are drawn: the ranking's note says so. A set strategy does not shard: the retrain runs on
    this machine as without ``ray_address``, and the note says why. So does a multi-label project
    (its strategies are not sharded on Ray; ``get_strategy`` would refuse their names).
    """
    if project.multi_label:
        note = f"ray_address {address}: a multi-label project is ranked on the server's machine, not on Ray"
        log.warning(note)
        return train_and_rank_multilabel(project, settings, pool_cache=pool_cache, note=note)[0]
    chosen = get_strategy(settings["strategy"])
    if not shardable(chosen):
        per_image = [name for name in strategy_names() if shardable(get_strategy(name))]
        note = (
            f"ray_address {address}: strategy {chosen.name!r} chooses its batch over the whole pool at once and "
            f"does not shard, so this model was ranked on the server's machine; per-image strategies rank on "
            f"Ray: {', '.join(per_image)}"
        )
        log.warning(note)
        return train_and_rank(project, settings, pool_cache=pool_cache, note=note)[0]
    start = time.perf_counter()
    with project.sessions() as session:
        ids = dict(session.execute(select(Image.path, Image.id)).all())
    found = suggest_on_ray(project, int(settings["queue_size"]), strategy=chosen.name,
                           candidates=settings["candidates"], explore=settings["explore"], seed=0,
                           address=address)  # fmt: skip
    per_batch = batch_size(project, settings)
    entries = [
        QueueEntry(ids[item.path], item.score, [] if item.predicted is None else [(item.predicted, item.probability)],
                   batch=k // per_batch + 1, strategy=found.strategy)
        for k, item in enumerate(found.items)
    ]  # fmt: skip
    with project.sessions.begin() as session:
        row = ModelVersion(status="ok", n_labels=found.n_labeled, strategy=found.strategy,
                           seconds=time.perf_counter() - start)  # fmt: skip
        session.add(row)
        session.flush()
        version = row.id
    note = (
        f"ranked on Ray ({address}): the pool scored in shards on the cluster; logistic head, "
        f"no audit images (as suggest --ray)" + (f"; {found.note}" if found.note else "")
    )
    log.info(note)
    why = "ranked on Ray: the logistic head, as suggest --ray (the head setting applies on one machine only)"
    ranking = Ranking(version, found.strategy, entries, head="logistic", head_reason=why, note=note)
    ranking.save(ranking_path(project))
    return ranking


def suggest_on_ray(
    project: Project,
    n: int,
    *,
    strategy: str,
    candidates: int | None,
    explore: float,
    seed: int,
    address: str,
    head: str = SHARDED_HEAD,
) -> Suggestions:
    chosen = get_strategy(strategy)
    if not shardable(chosen):
        per_image = [name for name in strategy_names() if shardable(get_strategy(name))]
        raise LabelwiseError(
            f"--ray: {chosen.name!r} chooses its batch over the whole pool at once (clustering or coverage) "
            f"and does not shard; with --ray use a per-image strategy: {', '.join(per_image)}"
        )
    check_batch_controls(n, explore, candidates)
    if head != SHARDED_HEAD:
        # The other heads (and auto, which may choose them) learn from the whole pool, unlabeled:
        # the driver holds only the labeled images' vectors, so it would train another model.
        raise LabelwiseError(
            f"--ray: the head {head!r} learns from the whole pool, which stays in the store's shards; with --ray "
            f"pass --head {SHARDED_HEAD} (or set the project's head to {SHARDED_HEAD} on the dashboard)"
        )
    with project.sessions() as session:
        rows = session.execute(
            select(Image.id, Image.path, Image.content_hash).where(Image.status == STATUS_OK).order_by(Image.id)
        ).all()
        labeled_of = current_labels(session)
    class_names = project.class_names()
    check_classes(class_names, len(rows))
    store = project.store
    store_rows = store.rows([r[2] for r in rows])
    labels = np.array([labeled_of.get(int(r[0]), -1) for r in rows], dtype=np.int64)
    labeled = np.flatnonzero(labels >= 0)
    mean, components = _projection(project, [r[2] for r in rows])
    X_labeled = _apply(store.get([rows[i][2] for i in labeled]), mean, components)
    # The local loop trains on X[labeled] in pool order: the same rows, the same seed, the same model.
    loop = make_loop(X_labeled, len(class_names), strategy=chosen.name, head=head, candidates=candidates,
                     explore=explore, seed=seed)  # fmt: skip
    loop.teach(np.arange(labeled.size), labels[labeled])
    model = loop.fit()
    label = chosen.label(PoolView(labeled=labels >= 0))
    if model is None and chosen.needs:
        chosen, label = loop.cold_start, loop.cold_start.name + " (cold start)"  # as rank_pool does
    selectable = labels < 0

    def top_k(tie: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return _sharded_top_k(
            connect(address), project, chosen, model, mean, components, store_rows, selectable, tie, k, loop.round_seed
        )

    exploit, exploit_scores, explorers = merged_selection(
        selectable, n, candidates=candidates, explore=explore, seed=loop.round_seed, top_k=top_k
    )
    picks = np.concatenate([exploit, explorers]).astype(np.intp)
    probs = samples = None
    if model is not None and picks.size:
        samples, probs = _predict(model, _apply(store.get([rows[i][2] for i in picks]), mean, components))
    # The explorers' scores (shown, not ranked by): per image, so computed here on the few picks.
    if chosen.name == "random" or picks.size == 0:
        own = _random_scores(len(rows), loop.round_seed)[picks]
    else:
        own = chosen.score(PoolView(labeled=np.zeros(picks.size, bool), probs=probs, samples=samples), loop.round_seed)
    scores = dict(zip(picks.tolist(), np.asarray(own, dtype=float).tolist(), strict=True))
    scores.update(zip(exploit.tolist(), exploit_scores.tolist(), strict=True))  # what ranked them
    items = []
    for j, i in enumerate(picks.tolist()):
        predicted = probability = None
        if probs is not None:
            top = int(np.argmax(probs[j]))
            predicted, probability = class_names[top], float(probs[j, top])
        items.append(Suggestion(rows[i][1], scores.get(i), predicted, probability))
    note = ""
    if model is None:
        seen = np.unique(labels[labeled]).size
        note = f"cold start: {seen} labeled class(es), a model needs two; these images were picked by {label}"
    return Suggestions(label, items, int(labeled.size), int(len(rows) - labeled.size), note)


def merged_selection(
    selectable: np.ndarray,
    n: int,
    *,
    candidates: int | None,
    explore: float,
    seed: int,
    top_k: Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`~labelwise.strategies.selection.select_top_split` with the scoring done elsewhere.

    The same draws from the same generator: the candidate subset, then (when something is
    exploited) the permutation that orders ties, then the explorers. ``top_k(tie, k)`` returns
    the ``k`` best items whose ``tie`` is ``>= 0`` (ties by ascending ``tie``) and their scores:
    merged from per-shard top-k, that is the global top-k. Returns (exploit, their scores, explorers).
    """
    pool = selectable_indices(selectable)
    rng = np.random.default_rng(seed)
    n = min(n, pool.size)
    ranked = candidate_subset(pool, candidates, rng)
    k = min(n - round(explore * n), ranked.size)
    exploit, scores = np.empty(0, np.intp), np.empty(0)
    if k > 0:
        tie = np.full(np.shape(selectable)[0], -1, dtype=np.int64)  # position in top_k's permutation
        tie[ranked[rng.permutation(ranked.size)]] = np.arange(ranked.size)
        exploit, scores = top_k(tie, k)
    return exploit, scores, add_explorers(exploit, pool, n, rng)[exploit.size :]


def _projection(project: Project, keys: list[str]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The pool's PCA, as the local path fits it (and caches it per pool size)."""
    cache = project.folder / "models" / "pca.npz"
    components = project.config.pca_components
    d, n = project.store.dim, len(keys)
    if not components or min(components, n, d) >= d or n < 2:
        return None, None
    k = min(components, n, d)
    saved = np.load(cache) if cache.exists() else None
    if saved is None or int(saved["n"]) != n or saved["components"].shape != (k, d):
        cache.parent.mkdir(parents=True, exist_ok=True)
        project_features(project.store.get(keys), components, cache)  # the one whole-pool step left
        saved = np.load(cache)
    return saved["mean"], saved["components"]


def _apply(vectors: np.ndarray, mean: np.ndarray | None, components: np.ndarray | None) -> np.ndarray:
    if components is None:
        return np.asarray(vectors, dtype=np.float32)
    return apply_pca(vectors, mean, components)


def _predict(model, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    if isinstance(model, BootstrapCommittee):
        samples = model.predict_proba_samples(X)
        return samples, samples.mean(axis=0)
    return None, model.predict_proba(X)


def _random_scores(size: int, seed: int) -> np.ndarray:
    return get_strategy("random").score(PoolView(labeled=np.zeros(size, dtype=bool)), seed)


def _sharded_top_k(ray, project, strategy, model, mean, components, store_rows, selectable, tie, k, seed):
    """The ``k`` best candidates (``tie >= 0``) by score, ties by ``tie``: indices and scores."""
    if strategy.name == "random":  # no model, no vectors: the scores are one draw over the pool
        scores = _random_scores(tie.size, seed)
        return _best(np.flatnonzero(tie >= 0), scores[tie >= 0], tie[tie >= 0], k)
    vectors_path, count = project.store.map_rows()
    shards = max(int(cluster_now(ray).cpus) * 2, math.ceil(tie.size / SHARD_ROWS), 1)
    shared = ray.put((model, mean, components))
    task = ray.remote(score_shard)
    futures = [
        task.remote(
            vectors_path,
            project.store.dim,
            count,
            store_rows[part],
            part,
            selectable[part],
            tie[part],
            shared,
            strategy.name,
            seed,
            k,
        )
        for part in np.array_split(np.arange(tie.size), shards)
        if (tie[part] >= 0).any()
    ]
    try:
        found = ray.get(futures)
    except ray.exceptions.RayTaskError as exc:
        raise LabelwiseError(
            f"--ray: scoring a shard of the store failed on a node: {exc.cause!r} (is the project folder "
            f"{project.folder} on a file system every node mounts under the same path? see docs/ray.md)"
        ) from None
    index = np.concatenate([f[0] for f in found])
    scores = np.concatenate([f[1] for f in found])
    return _best(index, scores, tie[index], k)


def _best(index: np.ndarray, scores: np.ndarray, tie: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``top_k``'s order: descending score, then ascending position in its permutation."""
    order = np.lexsort((tie, -scores))[:k]
    return index[order].astype(np.intp), scores[order]


def score_shard(vectors_path, dim, count, store_rows, index, selectable, tie, shared, strategy, seed, k):
    """Ray task: score one shard with the strategy's own function; its ``k`` best candidates."""
    model, mean, components = shared
    samples, probs = _predict(model, _apply(read_rows(vectors_path, dim, count, store_rows), mean, components))
    view = PoolView(labeled=~np.asarray(selectable, dtype=bool), probs=probs, samples=samples)
    scores = np.asarray(get_strategy(strategy).score(view, seed))
    if not np.isfinite(scores).all():
        raise ValueError("scores: contains NaN or inf")
    keep = tie >= 0
    return _best(np.asarray(index)[keep], scores[keep], np.asarray(tie)[keep], k)
