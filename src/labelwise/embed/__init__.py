"""Embed: pretrained backbones run with onnxruntime, and the embedding store."""

from labelwise.embed.backbone import BACKBONE_DIMS, BACKBONES, Backbone, get_backbone

__all__ = ["BACKBONES", "BACKBONE_DIMS", "Backbone", "get_backbone"]
