"""The backbone interface: decoded images in, float32 embeddings out, with onnxruntime.

A backbone has a ``name``, an ``input_size`` (square side in pixels) and a ``dim``. ``prepare``
turns one decoded RGB image into a ``(S, S, 3)`` uint8 array (it runs in decoder threads, in
parallel with inference); ``embed`` maps a stacked ``(n, S, S, 3)`` uint8 batch to ``(n, dim)``.
Where the weights carry an ImageNet classifier, ``classify`` gives ``(n, 1000)`` probabilities:
the tests use it to prove the weights are real.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

from labelwise.errors import LabelwiseError

CPU_PROVIDERS = ("CPUExecutionProvider",)
CUDA_PROVIDERS = ("CUDAExecutionProvider", "CPUExecutionProvider")


def ort_session(
    model: bytes | Path, threads: int | None = None, providers: tuple[str, ...] = CPU_PROVIDERS
) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    # CUDA asked for where this onnxruntime has no CUDA build (the `onnxruntime` wheel): the CPU runs it.
    usable = [p for p in providers if p in ort.get_available_providers()] or ["CPUExecutionProvider"]
    return ort.InferenceSession(source, options, providers=usable)


def squash_resize(image: Image.Image, size: int) -> np.ndarray:
    """The whole image, resized to ``size`` x ``size`` RGB uint8 (no crop: nothing is cut off)."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))


class Backbone:
    """Base class of the ONNX backbones; subclasses give the model and the input normalization."""

    name: str = ""
    input_size: int = 224
    dim: int = 0

    def __init__(self, threads: int | None = None, providers: tuple[str, ...] = CPU_PROVIDERS) -> None:
        self.threads, self.providers = threads, providers
        self._session: ort.InferenceSession | None = None

    # subclasses
    def model(self) -> bytes | Path:
        """The ONNX model: input ``images`` uint8 ``(n, S, S, 3)`` RGB, outputs ``embedding``, ``logits``."""
        raise NotImplementedError

    # shared
    @property
    def session(self) -> ort.InferenceSession:
        if self._session is None:
            self._session = ort_session(self.model(), self.threads, self.providers)
        return self._session

    def prepare(self, image: Image.Image) -> np.ndarray:
        return squash_resize(image, self.input_size)

    def _run(self, batch: np.ndarray, output: str) -> np.ndarray:
        batch = np.asarray(batch)
        expected = (self.input_size, self.input_size, 3)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise LabelwiseError(f"{self.name}: expected a batch of shape (n, {expected}), got {batch.shape}")
        if batch.shape[0] == 0:
            return np.empty((0, self.dim if output == "embedding" else 1000), dtype=np.float32)
        # The graphs take uint8 NHWC RGB and normalize inside: onnxruntime does it faster than numpy.
        return self.session.run([output], {"images": np.ascontiguousarray(batch, dtype=np.uint8)})[0]

    def embed(self, batch: np.ndarray) -> np.ndarray:
        return self._run(batch, "embedding").astype(np.float32, copy=False)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        logits = self._run(batch, "logits").astype(np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)


def _lite0() -> Backbone:
    from labelwise.embed.lite0 import EfficientNetLite0

    return EfficientNetLite0()


def _squeezenet() -> Backbone:
    from labelwise.embed.squeezenet import SqueezeNet

    return SqueezeNet()


BACKBONES: dict[str, Callable[[], Backbone]] = {"lite0": _lite0, "squeezenet": _squeezenet}
BACKBONE_DIMS = {"lite0": 1280, "squeezenet": 512}  # known without loading a model


def get_backbone(name: str) -> Backbone:
    try:
        return BACKBONES[name]()
    except KeyError:
        raise LabelwiseError(f"backbone: unknown {name!r}; known: {', '.join(BACKBONES)}") from None
