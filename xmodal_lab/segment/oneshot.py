"""One-shot segmentation with any encoder's patch features: PerSAM's recipe, less background prototypes."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xmodal_lab.segment.confidence import (
    as_float_tensor,
    background_prototypes,
    best_threshold,
    binary_mask,
    extreme_points,
    mask_iou,
    prototype_confidence,
    target_embedding,
    upsample_confidence,
)

SIGMA_RANGE_CANDIDATES = (0.1, 0.2, 0.4, 0.8)  # of :func:`guided_upsample` (guide deviations), calibrated
FeatureFn = Callable[[Tensor], Tensor]  # images [B, C, H, W] -> spatial features [B, D, h, w]
MODALITIES = ("s1", "s2", "s1+s2")  # "s1+s2" stacks both, radar channels first


def feature_fn(encoder: Any, modality: str | None = None) -> FeatureFn:
    """An encoder as a function from images ``[B, C, H, W]`` to patch features ``[B, D, h, w]``.

    A kit model (with ``features(s1=, s2=)``) needs a ``modality``; ``"s1+s2"`` takes ``[B, 14, H, W]`` and
    concatenates both encoders' unit-normalised features. A callable is returned as it is.
    """
    if hasattr(encoder, "features"):
        if modality not in MODALITIES:
            name = type(encoder).__name__
            raise ValueError(f"modality must be one of {MODALITIES} for {name}'s features, got {modality!r}")
        if modality == "s1+s2":

            def both(x: Tensor) -> Tensor:
                f = encoder.features(s1=x[:, :2], s2=x[:, 2:])
                return torch.cat([F.normalize(f["s1"], dim=1), F.normalize(f["s2"], dim=1)], dim=1)

            return both
        return lambda x: encoder.features(**{modality: x})[modality]
    if callable(encoder):
        return encoder
    raise TypeError(f"encoder must have .features(s1=, s2=) or be callable, got {type(encoder).__name__}")


def modality_images(data: Any, modality: str) -> Tensor:
    """The images ``[(B,) C, H, W]`` of a modality (``"s1+s2"``: both) from pair dicts; a tensor as it is."""
    if isinstance(data, Mapping):
        keys = ("s1", "s2") if modality == "s1+s2" else (modality,)
        if missing := [k for k in keys if k not in data]:
            raise KeyError(f"modality {modality!r} needs {missing} in the pair dict; it has {sorted(data)}")
        return torch.cat([as_float_tensor(data[k]) for k in keys], dim=-3)
    if isinstance(data, list | tuple) and data and isinstance(data[0], Mapping):
        return torch.stack([modality_images(d, modality) for d in data])
    return as_float_tensor(data)


def standardise_guide(*images: Tensor, smooth: int = 1) -> list[Tensor]:
    """Batches ``[B, C, H, W]`` standardised per band with shared statistics after a ``smooth`` box filter."""
    xs = [x.float() for x in images]
    if smooth > 1:
        xs = [F.avg_pool2d(x, smooth, stride=1, padding=smooth // 2, count_include_pad=False) for x in xs]
    flat = torch.cat([x.transpose(0, 1).reshape(x.shape[1], -1) for x in xs], dim=1)  # [C, N]
    mean = flat.mean(dim=1).reshape(1, -1, 1, 1)
    std = flat.std(dim=1).clamp_min(1e-6).reshape(1, -1, 1, 1)
    return [(x - mean) / std for x in xs]


def guided_upsample(confidence: Tensor, guide: Tensor, sigma_range: float = 1.0) -> Tensor:
    """Joint bilateral upsampling of a patch map ``[B, h, w]`` to pixels ``[B, H, W]``, guided by the tile.

    Each pixel averages its patch and the 8 around it, weighted by distance (a Gaussian of one patch) and by
    how much the patch's mean ``guide [B, C, H, W]`` resembles the pixel's (``sigma_range``).
    """
    b, h, w = confidence.shape
    big_h, big_w = guide.shape[-2:]
    if big_h % h or big_w % w:
        raise ValueError(f"guide {big_h}x{big_w} is not a whole multiple of the map {h}x{w}")
    patch_guide = F.adaptive_avg_pool2d(guide, (h, w))  # [B, C, h, w]
    ys = (torch.arange(big_h, device=guide.device) + 0.5) / (big_h // h)  # pixel centres in patch units
    xs = (torch.arange(big_w, device=guide.device) + 0.5) / (big_w // w)
    num = torch.zeros(b, big_h, big_w, device=guide.device)
    den = torch.zeros_like(num)
    for dy in (-1, 0, 1):
        qy = ys.floor().long() + dy  # the neighbour patch's row
        wy = torch.exp(-((ys - (qy + 0.5)) ** 2) / 2) * ((qy >= 0) & (qy < h))  # [H]
        qy = qy.clamp(0, h - 1)
        for dx in (-1, 0, 1):
            qx = xs.floor().long() + dx
            wx = torch.exp(-((xs - (qx + 0.5)) ** 2) / 2) * ((qx >= 0) & (qx < w))  # [W]
            qx = qx.clamp(0, w - 1)
            neighbour = patch_guide[:, :, qy][:, :, :, qx]  # [B, C, H, W]
            similar = torch.exp(-((guide - neighbour) ** 2).mean(dim=1) / (2 * sigma_range**2))  # [B, H, W]
            weight = similar * (wy[:, None] * wx[None, :])
            num += weight * confidence[:, qy][:, :, qx]
            den += weight
    return num / den.clamp_min(1e-12)


@dataclass
class OneShotResult:
    """Masks ``[B, H, W]`` and confidences; ``reference_iou`` (on the reference) is an optimistic ceiling."""

    masks: np.ndarray
    confidence: np.ndarray
    patch_confidence: np.ndarray
    threshold: float
    reference_iou: float
    positive_points: np.ndarray
    negative_points: np.ndarray

    def __len__(self) -> int:
        return len(self.masks)


def _images(x: Any, name: str) -> Tensor:
    t = as_float_tensor(x)
    t = t[None] if t.ndim == 3 else t
    if t.ndim != 4:
        raise ValueError(f"{name}: expected [C, H, W] or [B, C, H, W], got shape {tuple(t.shape)}")
    return t


@torch.no_grad()
def _features(fn: FeatureFn, images: Tensor, batch_size: int, device: torch.device) -> Tensor:
    feats = torch.cat([fn(images[i : i + batch_size].to(device)).float() for i in range(0, len(images), batch_size)])
    if feats.ndim != 4:
        raise ValueError(f"the encoder must return features [B, D, h, w], got shape {tuple(feats.shape)}")
    return feats


def one_shot_segment(
    encoder: Any, reference: Any, reference_mask: Any, targets: Any, modality: str | None = None,
    threshold: float | str = "auto", n_background: int = 4, upsample: str = "guided", batch_size: int = 32,
) -> OneShotResult:
    """Segment the class of a reference mask on other tiles, with patch features of any encoder.

    ``encoder``: see :func:`feature_fn` (run in eval mode); ``reference [C, H, W]`` (or a pair dict) and its
    ``reference_mask [H, W]`` show the class; ``targets`` are ``[(B,) C, H, W]`` or pair dicts.
    ``threshold``: a number, ``"calibrate"`` (the best on the reference, which it overfits) or ``"auto"`` (0
    with background prototypes, else ``"calibrate"``); ``n_background`` prototypes are subtracted (0: PerSAM's
    plain cosine). ``upsample``: ``"guided"`` (its ``sigma_range`` calibrated likewise) or ``"bilinear"``.
    """
    if not (isinstance(threshold, int | float) or threshold in ("auto", "calibrate")):
        raise ValueError(f"threshold must be a number, 'auto' or 'calibrate', got {threshold!r}")
    if upsample not in ("guided", "bilinear"):
        raise ValueError(f"upsample must be 'guided' or 'bilinear', got {upsample!r}")
    fn = feature_fn(encoder, modality)
    if modality is not None:
        reference, targets = modality_images(reference, modality), modality_images(targets, modality)
    ref, tgt = _images(reference, "reference"), _images(targets, "targets")
    if ref.shape[0] != 1:
        raise ValueError(f"reference: pass one tile [C, H, W], got {ref.shape[0]}")
    if tgt.shape[1] != ref.shape[1]:
        raise ValueError(f"targets have {tgt.shape[1]} channels but the reference {ref.shape[1]}: use one modality")
    ref_mask = binary_mask(reference_mask, "reference_mask", ref.shape[-2:])
    module = encoder if isinstance(encoder, torch.nn.Module) else torch.nn.Module()
    device, was_training = next(module.parameters(), ref).device, module.training
    try:
        module.eval()
        ref_feat, tgt_feat = (_features(fn, x, batch_size, device) for x in (ref, tgt))
    finally:
        module.train(was_training)
    # a patch half inside the mask counts half: steadier than PerSAM's centre rule on coarse grids
    fg = target_embedding(ref_feat, ref_mask, weighting="coverage")
    bg = background_prototypes(ref_feat, ref_mask, n_background) if n_background > 0 else None
    if threshold == "auto":
        threshold = 0.0 if bg is not None and len(bg) else "calibrate"

    def calibrate(ref_pix: Tensor) -> tuple[float, float]:
        if threshold == "calibrate":
            return best_threshold(ref_pix, ref_mask)
        return float(threshold), mask_iou((ref_pix >= threshold).cpu().numpy(), ref_mask.cpu().numpy())

    ref_conf = prototype_confidence(ref_feat, fg, bg)  # [1, h, w]
    patch_conf = prototype_confidence(tgt_feat, fg, bg)  # [B, h, w]
    if upsample == "guided":
        ref, tgt = ref.to(ref_feat.device), tgt.to(ref_feat.device)
        n_radar = 2 if ref.shape[1] in (2, 14) else 0  # radar channels come first, box-filtered (speckle)
        parts = [(slice(0, n_radar), 3), (slice(n_radar, None), 1)]
        guides = [standardise_guide(ref[:, c], tgt[:, c], smooth=k) for c, k in parts if ref[:, c].shape[1]]
        g_ref, g_tgt = torch.cat([g for g, _ in guides], dim=1), torch.cat([g for _, g in guides], dim=1)
        best = None
        for sig in sorted(SIGMA_RANGE_CANDIDATES, reverse=True):  # on ties the larger (smoother) sigma wins
            thr_s, iou_s = calibrate(guided_upsample(ref_conf, g_ref, sigma_range=sig))
            if best is None or iou_s > best[2] + 0.005:
                best = (sig, thr_s, iou_s)
        sigma, thr, ref_iou = best
        pix_conf = guided_upsample(patch_conf, g_tgt, sigma_range=sigma)  # [B, H, W]
    else:
        thr, ref_iou = calibrate(upsample_confidence(ref_conf, tuple(ref.shape[-2:])))
        pix_conf = upsample_confidence(patch_conf, tuple(tgt.shape[-2:]))
    pos, neg = (p.cpu().numpy() for p in extreme_points(pix_conf))
    masks, confidence, patches = (x.cpu().numpy() for x in (pix_conf >= thr, pix_conf, patch_conf))
    return OneShotResult(masks, confidence, patches, thr, ref_iou, pos, neg)
