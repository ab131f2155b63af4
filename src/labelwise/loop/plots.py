"""Pictures of the simulator: learning curves and, for the toy set, decision boundaries."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from labelwise.loop.active_loop import ActiveLoop
from labelwise.loop.datasets import Dataset
from labelwise.loop.report import BASELINE


def plot_curves(summary: dict, path: Path, title: str, log_x: bool = False, ylabel: str = "test accuracy") -> None:
    """Mean learning curves with a +-1 sd band; random drawn dashed and black."""
    fig, ax = plt.subplots(figsize=(9.5, 5), dpi=110)
    # Distinct markers keep strategies visible where their curves coincide (with two classes,
    # margin, entropy and least confidence rank identically).
    markers = iter("osD^v<>ph*")
    for strategy, s in sorted(summary["strategies"].items(), key=lambda kv: kv[0] != BASELINE):
        n, mean, sd = np.array(s["n_labeled"]), np.array(s["mean"]), np.array(s["sd"])
        if strategy == BASELINE:
            style = {"color": "black", "linestyle": "--", "linewidth": 2.2}
        elif strategy == "auto":  # the default: easy to find among the rest
            style = {"color": "crimson", "linewidth": 3.0, "zorder": 5}
        else:
            style = {"marker": next(markers, "."), "markersize": 4, "linewidth": 1.3}
        (line,) = ax.plot(n, mean, label=strategy, **style)
        ax.fill_between(n, mean - sd, mean + sd, color=line.get_color(), alpha=0.12)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("labeled images")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _draw_line(ax, normal: np.ndarray, offset: float, xlim, **style) -> None:
    """The line ``normal . x + offset = 0`` across ``xlim``."""
    xs = np.linspace(*xlim, 50)
    if abs(normal[1]) > 1e-12:
        ax.plot(xs, -(normal[0] * xs + offset) / normal[1], **style)
    else:
        ax.axvline(-offset / normal[0], **style)


def plot_boundary(dataset: Dataset, loops: dict[str, ActiveLoop], path: Path) -> None:
    """Side by side per strategy: the pool, the labeled points, the true line and the learned line."""
    fig, axes = plt.subplots(1, len(loops), figsize=(5.5 * len(loops), 5.2), dpi=110, squeeze=False)
    X, y = dataset.X_pool, dataset.y_pool
    pad = 0.3
    xlim = (X[:, 0].min() - pad, X[:, 0].max() + pad)
    ylim = (X[:, 1].min() - pad, X[:, 1].max() + pad)
    colors = np.array(["tab:blue", "tab:orange"])
    for ax, (strategy, loop) in zip(axes[0], loops.items(), strict=True):
        labeled = loop.labeled
        ax.scatter(X[~labeled, 0], X[~labeled, 1], s=9, c=colors[y[~labeled]], alpha=0.18, linewidths=0)
        for cls, marker in ((0, "o"), (1, "s")):
            sel = labeled & (y == cls)
            ax.scatter(
                X[sel, 0],
                X[sel, 1],
                s=60,
                c=colors[cls],
                marker=marker,
                edgecolors="black",
                label=f"labeled {dataset.class_names[cls]}",
            )
        _draw_line(
            ax,
            dataset.extras["true_normal"],
            dataset.extras["true_offset"],
            xlim,
            color="black",
            linestyle="--",
            linewidth=1.8,
            label="true boundary",
        )
        if loop.model is not None and getattr(loop.model, "linear_", None) is not None:
            W, b = loop.model.linear_
            _draw_line(
                ax, W[:, 1] - W[:, 0], b[1] - b[0], xlim, color="crimson", linewidth=2.2, label="learned boundary"
            )
        accuracy = loop.history[-1].metrics.get("accuracy", float("nan"))
        ax.set_title(f"{strategy}: {loop.n_labeled} labels, test accuracy {accuracy:.3f}")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_aspect("equal")
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle("Which points were labeled: random sampling against uncertainty (margin) sampling")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
