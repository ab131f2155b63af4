"""Read and embed the files of an ingest on a Ray cluster: the same functions, another executor.

The driver (``labelwise init``/``add``) keeps the scan, the duplicates, the embedding store and the
database (:mod:`labelwise.project.ingest`). Only what costs CPU moves: an actor pool runs
:func:`labelwise.ingest.pipeline.read_file` (read, hash, decode, validate, resize) on each file and
then the backbone (one onnxruntime session per actor) on the decoded pictures. Results come back in
input order, so the driver's batches, duplicates and broken files are those of the local path.

The files must be readable by every node under the same absolute path (a shared file system), or be
objects of an object store URI (``s3://...``): each actor then opens the file system from the URI
itself, with the credentials and endpoint of its own node's environment (docs/ray.md).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from labelwise.embed.backbone import CPU_PROVIDERS, CUDA_PROVIDERS, Backbone, get_backbone
from labelwise.embed.store import EmbeddingStore
from labelwise.errors import LabelwiseError
from labelwise.ingest.objstore import ObjectPath, local_or_object
from labelwise.ingest.pipeline import ReadFile, read_file
from labelwise.ingest.scan import FoundFile
from labelwise.project.ingest import Reader
from labelwise.project.ray_cluster import Cluster, cluster_now, connect

# Decoding and resizing a picture costs a fraction of embedding it: each CPU keeps this share
# for the read tasks and gives the rest to a backbone actor.
READ_SHARE = 0.25
READ_BATCH = 16  # files per read task call: small, so that a retried task redoes little
EMBED_BATCH = 32  # pictures per backbone call
BLOCK = 64  # files per Ray Data block of the input


def ray_reader(address: str, *, fused: bool = True) -> Reader:
    """A :data:`~labelwise.project.ingest.Reader` that runs on the Ray cluster at ``address``.

    fused: each backbone actor also reads and decodes its files (one stage; the default). False: read
    tasks, then the actors (two stages; the decoded pixels, 150 KB an image, go through the object
    store between them), as before; kept for ``benchmarks/bench_ray.py`` to compare the two.
    """
    ray = connect(address)

    def read(todo: list[FoundFile], backbone: Backbone, store: EmbeddingStore, max_pixels: int) -> Iterator[ReadFile]:
        if not todo:
            return iter(())
        return _read_on_ray(ray, todo, backbone, frozenset(store.keys()), max_pixels, fused)

    return read


def _read_on_ray(
    ray, todo: list[FoundFile], backbone: Backbone, known: frozenset[str], max_pixels: int, fused: bool = True
) -> Iterator[ReadFile]:
    from ray.data import ActorPoolStrategy, DataContext

    context = DataContext.get_current()
    context.execution_options.preserve_order = True  # the driver's batches are those of the local path
    context.enable_progress_bars = False
    cluster = cluster_now(ray)
    actors, actor_cpus, actor_gpus, threads = embed_pool_size(cluster, _node_cpus(ray))
    rows = [{"i": i, "path": str(f.path), "error": f.error or ""} for i, f in enumerate(todo)]
    # Blocks of BLOCK files, and at least four per CPU while there are files: a small ingest is
    # spread over every node too.
    blocks = max(math.ceil(len(rows) / BLOCK), min(len(rows), 4 * max(1, int(cluster.cpus))))
    dataset = ray.data.from_items(rows, override_num_blocks=blocks)
    if fused:
        # One stage: an actor reads, decodes and embeds its files, with the whole CPU. The two-stage
        # form below gave the read tasks a quarter of each CPU and moved every decoded picture through
        # the object store to an actor; on one node that cost more than it overlapped.
        embedded = dataset.map_batches(
            ReadAndEmbed, batch_size=EMBED_BATCH, batch_format="numpy",
            compute=ActorPoolStrategy(size=actors), num_cpus=1.0 if actor_gpus == 0 else actor_cpus,
            num_gpus=actor_gpus,
            fn_constructor_kwargs={"backbone": backbone.name, "threads": threads, "gpu": actor_gpus > 0,
                                   "known": known, "max_pixels": max_pixels},
        )  # fmt: skip
    else:
        read = dataset.map_batches(
            read_batch, batch_size=READ_BATCH, num_cpus=READ_SHARE, batch_format="numpy",
            fn_kwargs={"backbone": backbone.name, "known": known, "max_pixels": max_pixels},
        )  # fmt: skip
        embedded = read.map_batches(
            Embedder, batch_size=EMBED_BATCH, batch_format="numpy",
            compute=ActorPoolStrategy(size=actors), num_cpus=actor_cpus, num_gpus=actor_gpus,
            fn_constructor_kwargs={"backbone": backbone.name, "threads": threads, "gpu": actor_gpus > 0},
        )  # fmt: skip
    # A node lost mid-ingest: Ray retries the two-stage form's read tasks elsewhere (a task's system failures are
    # retried 3 times) and Ray Data restarts its actors and resubmits their calls (unlimited).
    for batch in embedded.iter_batches(batch_size=None, batch_format="numpy"):
        for j in range(len(batch["i"])):
            found = todo[int(batch["i"][j])]
            reason = str(batch["reason"][j]) or None
            if reason and reason.startswith("cannot read") and not found.error and _readable_here(found.path):
                # Not a broken file: a node that does not see this machine's files.
                where = (
                    "the images must be on a file system every node mounts under the same path"
                    if isinstance(found.path, Path)
                    else "every node needs the object store's settings in its environment (AWS_ENDPOINT_URL, "
                    "credentials, AWS_DEFAULT_REGION)"
                )
                raise LabelwiseError(
                    f"--ray: a Ray node cannot read {found.path} ({reason}), which this machine reads: "
                    f"{where} (docs/ray.md)"
                )
            yield ReadFile(
                found,
                content_hash=str(batch["content_hash"][j]) or None,
                width=_size(batch["width"][j]),
                height=_size(batch["height"][j]),
                reason=reason,
                known=bool(batch["known"][j]),
                embedding=np.array(batch["embedding"][j], dtype=np.float32) if batch["embedded"][j] else None,
            )


def _readable_here(path: Path | ObjectPath) -> bool:
    return os.access(path, os.R_OK) if isinstance(path, Path) else path.readable()


def _size(value: int) -> int | None:
    return None if value < 0 else int(value)


def _node_cpus(ray) -> list[float]:
    return [float(n["Resources"].get("CPU", 0.0)) for n in ray.nodes() if n.get("Alive")]


def embed_pool_size(cluster: Cluster, node_cpus: list[float]) -> tuple[int, float, float, int]:
    """(actors, CPUs per actor, GPUs per actor, onnxruntime threads per actor).

    With GPUs: one actor per GPU, on the CUDA provider. Without: one actor per CPU, each holding
    that CPU but its read share, with one onnxruntime thread. Single-threaded sessions side by
    side outran one multi-threaded session per node in bench_ray.py (two 1-CPU nodes: 1.00x the
    local path, one 2-CPU node with one 2-thread actor: 0.62x, same run).
    """
    if cluster.gpus >= 1:
        return int(cluster.gpus), 1.0, 1.0, 1
    cpus = sum(math.floor(c) for c in node_cpus) or max(1, math.floor(cluster.cpus))
    return cpus, 1 - READ_SHARE, 0.0, 1


def read_batch(
    batch: dict[str, np.ndarray], *, backbone: str, known: frozenset[str], max_pixels: int
) -> dict[str, np.ndarray]:
    """Ray task: :func:`read_file` on each file of ``batch``; pixels of zeros where there are none."""
    model = get_backbone(backbone)  # no model is loaded: ``prepare`` only resizes
    size = model.input_size
    found = [
        FoundFile(local_or_object(str(p)), "", None, None, str(e) or None)
        for p, e in zip(batch["path"], batch["error"], strict=True)
    ]
    results = [read_file(f, model.prepare, size, known.__contains__, max_pixels) for f in found]
    pixels = np.zeros((len(results), size, size, 3), dtype=np.uint8)
    for j, r in enumerate(results):
        if r.pixels is not None:
            pixels[j] = r.pixels
    return {
        "i": np.asarray(batch["i"], dtype=np.int64),
        "content_hash": np.array([r.content_hash or "" for r in results], dtype=object),
        "width": np.array([-1 if r.width is None else r.width for r in results], dtype=np.int64),
        "height": np.array([-1 if r.height is None else r.height for r in results], dtype=np.int64),
        "reason": np.array([r.reason or "" for r in results], dtype=object),
        "known": np.array([r.known for r in results], dtype=bool),
        "decoded": np.array([r.pixels is not None for r in results], dtype=bool),
        "pixels": pixels,
    }


class Embedder:
    """Ray actor: one onnxruntime session, ``threads`` intra-op threads (the CPUs Ray gave it)."""

    def __init__(self, backbone: str, threads: int, gpu: bool) -> None:
        self.backbone = get_backbone(backbone)
        self.backbone.threads = threads
        self.backbone.providers = CUDA_PROVIDERS if gpu else CPU_PROVIDERS

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        decoded = np.asarray(batch.pop("pixels"))
        embedding = np.zeros((decoded.shape[0], self.backbone.dim), dtype=np.float32)
        todo = np.flatnonzero(batch["decoded"])
        if todo.size:
            embedding[todo] = self.backbone.embed(decoded[todo])
        batch["embedding"] = embedding
        batch["embedded"] = np.asarray(batch.pop("decoded"), dtype=bool)
        return batch


class ReadAndEmbed(Embedder):
    """Ray actor: :func:`read_batch` and the backbone in one call, so decoded pixels never leave the actor."""

    def __init__(self, backbone: str, threads: int, gpu: bool, known: frozenset[str], max_pixels: int) -> None:
        super().__init__(backbone, threads, gpu)
        self.known, self.max_pixels = known, max_pixels

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        read = read_batch(batch, backbone=self.backbone.name, known=self.known, max_pixels=self.max_pixels)
        return super().__call__(read)
