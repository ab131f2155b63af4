"""Prove each backbone is real: ImageNet classes make sense, embeddings behave like embeddings."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_images

from labelwise.embed import BACKBONE_DIMS, get_backbone
from labelwise.errors import LabelwiseError

# ImageNet-1k indices: 442 bell cote, 497 church, 663 monastery, 698 palace, 832 stupa;
# 985 daisy, 309 bee, 738 pot (flowerpot), 883 vase, 991 coral fungus, 947 mushroom.
TEMPLE_CLASSES = {442, 497, 663, 698, 832}
FLOWER_CLASSES = {985, 309, 738, 883, 991, 947}


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.fromarray(img) for img in load_sample_images().images]  # temple, flower


@pytest.fixture(scope="module", params=["squeezenet", "lite0"])
def backbone(request):
    return get_backbone(request.param)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_imagenet_head_ranks_sensible_classes(backbone, photos):
    probs = backbone.classify(np.stack([backbone.prepare(p) for p in photos]))
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    temple_top5, flower_top5 = (set(np.argsort(-p)[:5].tolist()) for p in probs)
    assert len(temple_top5 & TEMPLE_CLASSES) >= 2, temple_top5
    assert flower_top5 & FLOWER_CLASSES, flower_top5
    assert not temple_top5 & flower_top5


def test_embeddings_differ_between_photos_and_agree_across_formats(backbone, photos):
    temple, flower = photos
    buffer = io.BytesIO()
    temple.save(buffer, format="JPEG", quality=95)
    temple_jpeg = Image.open(io.BytesIO(buffer.getvalue()))
    batch = np.stack([backbone.prepare(img) for img in (temple, temple_jpeg, flower)])
    vectors = backbone.embed(batch)
    assert vectors.shape == (3, BACKBONE_DIMS[backbone.name]) and vectors.dtype == np.float32
    same, different = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    assert same > 0.98, same
    assert different < same - 0.1, (same, different)


def test_batch_size_does_not_change_an_embedding(backbone, photos):
    batch = np.stack([backbone.prepare(p) for p in photos])
    together = backbone.embed(batch)
    alone = backbone.embed(batch[1:])
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-4, atol=1e-4)


def test_wrong_batch_shape_is_refused(backbone):
    with pytest.raises(LabelwiseError, match="expected a batch of shape"):
        backbone.embed(np.zeros((1, 10, 10, 3), dtype=np.uint8))


def test_unknown_backbone_is_named():
    with pytest.raises(LabelwiseError, match="unknown 'resnet'"):
        get_backbone("resnet")
