"""Embed: pretrained backbones run with onnxruntime, and the embedding store."""

from labelwise.embed.backbone import BACKBONES, Backbone, get_backbone

__all__ = ["BACKBONES", "Backbone", "get_backbone"]
