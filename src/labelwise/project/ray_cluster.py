"""Connect to a Ray cluster, and what it offers: the one place that knows Ray's addresses.

Ray is an optional extra (``pip install 'labelwise[ray]'``): it is imported only here and in the
modules that run on it, and only when ``--ray`` (or ``ray_address``) asks for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from types import ModuleType

from labelwise.errors import LabelwiseError


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise LabelwiseError("--ray: Ray is not installed; install it with `pip install 'labelwise[ray]'`") from None
    return ray


def connect(address: str) -> ModuleType:
    """Join the cluster at ``address`` (once per process) and return the ``ray`` module.

    ``local`` starts a Ray runtime in this process; ``auto`` joins the cluster named by
    ``RAY_ADDRESS`` (or the one started on this machine with ``ray start``); ``host:port`` joins
    a cluster's head, ``ray://host:10001`` through Ray Client.
    """
    ray = import_ray()
    if not address:
        raise LabelwiseError("--ray: give an address: local, auto, host:port or ray://host:10001")
    if ray.is_initialized():
        return ray
    # Ray Data's usage report queries a Prometheus server the cluster may not run, and logs a
    # stack trace per query when there is none; labelwise sends no usage data anyway.
    os.environ.setdefault("RAY_DATA_USAGE_DISABLED", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    target = None if address == "local" else address  # "auto": RAY_ADDRESS, else the cluster on this machine
    try:
        ray.init(address=target, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise LabelwiseError(f"--ray {address}: cannot join the Ray cluster: {exc}") from None
    return ray


@dataclass(frozen=True)
class Cluster:
    """What the cluster has for labelwise's stages, counted when a stage starts."""

    cpus: float
    gpus: float
    nodes: int


def cluster_now(ray: ModuleType) -> Cluster:
    resources = ray.cluster_resources()
    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return Cluster(float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0)), max(nodes, 1))
