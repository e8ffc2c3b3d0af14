"""Where hand-designed baselines come from: a registry of model libraries (timm, torchvision, or a plug-in's).

``green-baselines`` names a model as ``<source>/<model>``. A source says which models it has and builds
one with random weights for the data's classes and input channels (nothing is downloaded). A plug-in
module (``plugins=[my_models]``) may register another source, e.g. a lab's own compact CNNs, with one
class: ``@SOURCES.decorator("mylab")`` on a :class:`Source` subclass.
"""
from __future__ import annotations

from torch import nn

from search.registry import Registry


class Source:
    """A library of classification networks."""

    def has(self, model: str) -> bool:
        """Whether ``model`` is one of this library's classification networks."""
        raise NotImplementedError

    def create(self, model: str, num_classes: int, in_chans: int) -> nn.Module:
        """``model`` with random weights, ``num_classes`` outputs and ``in_chans`` input channels (the stem is
        adapted to small images afterwards, by the caller)."""
        raise NotImplementedError


SOURCES: Registry[type[Source]] = Registry("baseline source")


@SOURCES.decorator("timm")
class Timm(Source):
    def has(self, model: str) -> bool:
        import timm

        return timm.is_model(model)

    def create(self, model: str, num_classes: int, in_chans: int) -> nn.Module:
        import timm

        return timm.create_model(model, pretrained=False, num_classes=num_classes, in_chans=in_chans)


@SOURCES.decorator("torchvision")
class Torchvision(Source):
    """torchvision's classification models (three input channels: :func:`~search.deploy.baselines.adapt_stem`
    rebuilds the stem for other inputs)."""

    def has(self, model: str) -> bool:
        import torchvision

        return model in torchvision.models.list_models(module=torchvision.models)

    def create(self, model: str, num_classes: int, in_chans: int) -> nn.Module:
        import torchvision

        return torchvision.models.get_model(model, weights=None, num_classes=num_classes)
