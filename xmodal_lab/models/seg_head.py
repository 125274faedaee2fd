"""Segmentation heads on any kit encoder's ``features()``: a light UPerNet and a linear probe."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NEEDS = {"s1": ("s1",), "s2": ("s2",), "joint": ("s1", "s2")}
MODALITIES = tuple(NEEDS)
HEADS = ("upernet", "linear")
IGNORE_INDEX = -1  # Sen1Floods11's no-data label


def _conv_bn_relu(c_in: int, c_out: int, k: int) -> nn.Sequential:
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class UPerNetHead(nn.Module):
    """ViTDet's simple feature pyramid (x4, x2, x1, x1/2 of the map), an FPN and a fusion; one global pool bin."""

    def __init__(self, in_dim: int, num_classes: int, dim: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.resample = nn.ModuleList([  # finest level first
            nn.Sequential(nn.ConvTranspose2d(in_dim, in_dim, 2, stride=2), nn.BatchNorm2d(in_dim), nn.GELU(),
                          nn.ConvTranspose2d(in_dim, in_dim, 2, stride=2)),
            nn.ConvTranspose2d(in_dim, in_dim, 2, stride=2),
            nn.Identity(),
            nn.MaxPool2d(2, ceil_mode=True),
        ])  # fmt: skip
        self.lateral = nn.ModuleList(_conv_bn_relu(in_dim, dim, 1) for _ in range(4))
        # no batch norm on the 1x1 global bin: a batch of one would fail
        self.global_context = nn.Sequential(nn.Conv2d(in_dim, dim, 1), nn.ReLU(inplace=True))
        self.smooth = nn.ModuleList(_conv_bn_relu(dim, dim, 3) for _ in range(4))
        self.fuse = _conv_bn_relu(dim * 4, dim, 3)
        self.dropout = nn.Dropout2d(dropout)
        self.classifier = nn.Conv2d(dim, num_classes, 1)

    def forward(self, features: Tensor, size: tuple[int, int]) -> Tensor:
        """Per-pixel logits ``[B, K, H, W]`` from a feature map ``[B, D, h, w]``, for ``size = (H, W)``."""
        levels = [lat(res(features)) for res, lat in zip(self.resample, self.lateral)]  # fine -> coarse
        levels[-1] = levels[-1] + self.global_context(features.mean(dim=(2, 3), keepdim=True))
        for i in range(len(levels) - 2, -1, -1):  # top-down: coarse context into finer levels
            levels[i] = levels[i] + F.interpolate(levels[i + 1], size=levels[i].shape[-2:], mode="bilinear",
                                                  align_corners=False)  # fmt: skip
        fine = levels[0].shape[-2:]
        outs = [s(x) for s, x in zip(self.smooth, levels)]  # then resized to the finest level
        outs = [o if o.shape[-2:] == fine else F.interpolate(o, fine, mode="bilinear", align_corners=False)
                for o in outs]  # fmt: skip
        logits = self.classifier(self.dropout(self.fuse(torch.cat(outs, dim=1))))  # [B, K, h', w']
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


class LinearHead(nn.Module):
    """Linear probe ``W BN(f) + b`` per patch feature (no affine BN, as MAE's), upsampled bilinearly."""

    def __init__(self, in_dim: int, num_classes: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(in_dim, affine=False)
        self.classifier = nn.Conv2d(in_dim, num_classes, 1)

    def forward(self, features: Tensor, size: tuple[int, int]) -> Tensor:
        """Per-pixel logits ``[B, K, H, W]`` from a feature map ``[B, D, h, w]``, for ``size = (H, W)``."""
        logits = self.classifier(self.norm(features))  # [B, K, h, w]
        return F.interpolate(logits, size=size, mode="bilinear", align_corners=False)


@dataclass
class SegmentationConfig:
    """Everything needed to rebuild a :class:`SegmentationModel` (encoder registry name and config dict too)."""

    encoder: str = "croma"
    encoder_config: dict[str, Any] = field(default_factory=dict)
    num_classes: int = 2
    modality: str = "s1"
    freeze_encoder: bool = True
    head_dim: int = 64
    dropout: float = 0.1
    class_weights: tuple[float, ...] | None = None
    head: str = "upernet"


class SegmentationModel(nn.Module):
    """A kit encoder plus a ``"upernet"`` or ``"linear"`` head on its ``modality`` feature map."""

    name = "segmentation"

    def __init__(self, encoder_model: nn.Module, num_classes: int, modality: str = "s1",
                 freeze_encoder: bool = True, head_dim: int = 64, class_weights: list | Tensor | None = None,
                 dropout: float = 0.1, head: str = "upernet") -> None:  # fmt: skip
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head: expected one of {HEADS}, got {head!r}")
        if not callable(getattr(encoder_model, "features", None)):
            raise TypeError(f"{type(encoder_model).__name__} has no features(); use a model of the kit")
        if modality not in MODALITIES:
            raise ValueError(f"modality: expected one of {MODALITIES}, got {modality!r}")
        if int(num_classes) < 2:
            raise ValueError(f"num_classes: expected at least 2 (e.g. water and land), got {num_classes}")
        self.encoder = encoder_model
        self.modality, self.num_classes = modality, int(num_classes)
        self.freeze_encoder = bool(freeze_encoder)
        if self.freeze_encoder:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        self._norms_at_start = self._norm_state()
        in_dim = self._feature_dim()
        if head == "upernet":
            self.head: nn.Module = UPerNetHead(in_dim, self.num_classes, dim=head_dim, dropout=dropout)
        else:
            self.head = LinearHead(in_dim, self.num_classes)
        if class_weights is not None:
            class_weights = torch.as_tensor(class_weights, dtype=torch.float32)
            if class_weights.shape != (self.num_classes,):
                raise ValueError(f"class_weights: expected {self.num_classes} weights, "
                                 f"got {tuple(class_weights.shape)}")  # fmt: skip
        self.register_buffer("class_weights", class_weights, persistent=False)
        weights = None if class_weights is None else tuple(class_weights.tolist())
        self._settings = dict(num_classes=self.num_classes, modality=modality, freeze_encoder=self.freeze_encoder,
                              head_dim=int(head_dim), dropout=float(dropout), class_weights=weights,
                              head=head)  # fmt: skip
        self._warned = False

    @property
    def config(self) -> SegmentationConfig | None:
        """The :class:`SegmentationConfig` of this model (None when the encoder is not a registry model)."""
        name, enc_config = getattr(self.encoder, "name", None), getattr(self.encoder, "config", None)
        if not isinstance(name, str) or not dataclasses.is_dataclass(enc_config):
            return None
        return SegmentationConfig(name, dataclasses.asdict(enc_config), **self._settings)

    @classmethod
    def from_config(cls, config: SegmentationConfig | dict[str, Any]) -> SegmentationModel:
        """A freshly initialised model from a :class:`SegmentationConfig` or its dict (load weights after)."""
        from .registry import MODELS, config_from_dict  # the registry imports the encoders, not this head

        if isinstance(config, dict):
            unknown = sorted(set(config) - {f.name for f in dataclasses.fields(SegmentationConfig)})
            if unknown:
                raise ValueError(f"segmentation config has fields this version does not know: {unknown}")
            config = SegmentationConfig(**config)
        if config.encoder not in MODELS:
            raise ValueError(f"segmentation config: unknown encoder {config.encoder!r}; "
                             f"known: {sorted(MODELS)}")  # fmt: skip
        encoder = MODELS[config.encoder].model_cls(config_from_dict(config.encoder, config.encoder_config))
        settings = {k: v for k, v in vars(config).items() if k not in ("encoder", "encoder_config")}
        return cls(encoder, **settings)

    def _norm_state(self) -> list[Tensor]:
        return [b.detach().clone() for n, b in self.encoder.named_buffers() if n.endswith(("mean", "std"))]

    def _inputs(self, batch: dict) -> dict[str, Tensor]:
        missing = [k for k in NEEDS[self.modality] if not isinstance(batch.get(k), Tensor)]
        if missing:
            raise KeyError(f"SegmentationModel(modality={self.modality!r}) needs {missing} in the batch")
        return {k: batch[k] for k in NEEDS[self.modality]}

    def _feature_dim(self) -> int:
        size = int(getattr(getattr(self.encoder, "config", None), "img_size", 32))
        dummy = {"s1": torch.zeros(1, 2, size, size), "s2": torch.full((1, 12, size, size), 0.1)}
        was_training = self.encoder.training
        self.encoder.eval()
        with torch.no_grad():
            feats = self.encoder.features(**{k: dummy[k] for k in NEEDS[self.modality]})
        self.encoder.train(was_training)
        if self.modality not in feats:
            raise ValueError(f"{type(self.encoder).__name__}.features() gives {sorted(feats)}, not "
                             f"{self.modality!r}; choose another modality")  # fmt: skip
        return int(feats[self.modality].shape[1])

    def train(self, mode: bool = True) -> SegmentationModel:
        """Set training mode; a frozen encoder stays in eval mode (no dropout, fixed norm statistics)."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def encode(self, batch: dict) -> Tensor:
        """The encoder's feature map for the chosen modality, ``[B, D, h, w]``."""
        inputs = self._inputs(batch)
        if batch.get("gsd") is not None:
            inputs["gsd"] = batch["gsd"]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            return self.encoder.features(**inputs)[self.modality]

    def logits(self, batch: dict) -> Tensor:
        """Per-pixel class logits ``[B, K, H, W]`` for a batch with ``s1`` and/or ``s2`` ``[B, C, H, W]``."""
        if self.freeze_encoder and self.training and not self._warned:
            self._warned = True
            pairs = zip(self._norms_at_start, self._norm_state())
            if any(a.shape != b.shape or not torch.equal(a.to(b.device), b) for a, b in pairs):
                warnings.warn(
                    "SegmentationModel: the frozen encoder's input statistics changed since it was wrapped "
                    "(fit(normalize=True) recomputes them on the new data); pass normalize=False to keep the "
                    "statistics the encoder was pretrained with", stacklevel=2)  # fmt: skip
        size = next(iter(self._inputs(batch).values())).shape[-2:]
        return self.head(self.encode(batch), size=tuple(size))

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """``logits [B, K, H, W]`` and, given ``mask [B, H, W]`` (-1: no label), the cross-entropy ``loss``."""
        logits = self.logits(batch)
        out, mask = {"logits": logits}, batch.get("mask")
        if mask is not None:
            mask = mask.long()
            if mask.shape != (logits.shape[0], *logits.shape[-2:]):
                raise ValueError(f"mask: expected [B, H, W] = {(logits.shape[0], *logits.shape[-2:])}, "
                                 f"got {tuple(mask.shape)}")  # fmt: skip
            bad = (mask >= self.num_classes) | (mask < IGNORE_INDEX)
            if bad.any():
                got = sorted(torch.unique(mask[bad]).tolist())[:5]
                raise ValueError(f"mask: values must be class ids 0..{self.num_classes - 1} or "
                                 f"{IGNORE_INDEX} (no label), got {got}")  # fmt: skip
            if (mask == IGNORE_INDEX).all():  # no labelled pixel: a zero that still has a gradient
                out["loss"] = logits.sum() * 0.0
            else:
                weight = self.class_weights
                out["loss"] = F.cross_entropy(logits, mask, weight=weight, ignore_index=IGNORE_INDEX)
        return out

    @torch.no_grad()
    def predict(self, batch: dict) -> Tensor:
        """Class ids ``[B, H, W]`` (argmax of the logits), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            return self.logits(batch).argmax(dim=1)
        finally:
            self.train(was_training)
