"""One-shot segmentation from any encoder's patch features (PerSAM's recipe), and a band cut to beat."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xmodal_lab.errors import InputValueError

SIGMA_RANGE_CANDIDATES = (0.1, 0.2, 0.4, 0.8)  # of :func:`guided_upsample` (guide deviations), calibrated
FeatureFn = Callable[[Tensor], Tensor]  # images [B, C, H, W] -> spatial features [B, D, h, w]
MODALITIES = ("s1", "s2", "s1+s2")  # "s1+s2" stacks both, radar channels first
BASELINE_BANDS = {"vv": "s1", "vh": "s1", "ndvi": "s2", "ndwi": "s2"}  # band or index: its modality
#: ``(band, below)`` per class and modality: water is dark in VV, bright in NDWI; forest bright in VH, NDVI.
DEFAULT_BASELINES: dict[str, dict[str, tuple[str, bool]]] = {
    "water": {"s1": ("vv", True), "s2": ("ndwi", False)},
    "forest": {"s1": ("vh", False), "s2": ("ndvi", False)},
}
_GREEN, _RED, _NIR = 2, 3, 7  # Sentinel-2 B3, B4, B8 in the kit's 12-band order


def as_float_tensor(x: Any) -> Tensor:
    """A tensor, array or nested list as a float32 tensor (a tensor stays on its device)."""
    return torch.as_tensor(x if isinstance(x, Tensor) else np.asarray(x)).float()


def binary_mask(mask: Any, name: str = "mask", shape: tuple[int, ...] | None = None) -> Tensor:
    """A mask ``[(B,) H, W]`` on a tile of ``shape`` as 0/1 ``[B, H, W]``; soft masks and label maps raise."""
    m = as_float_tensor(mask)
    m = m[None] if m.ndim == 2 else m
    if m.ndim != 3:
        raise ValueError(f"{name}: expected a mask [H, W] or [B, H, W], got shape {tuple(m.shape)}")
    if shape is not None and tuple(m.shape[-2:]) != tuple(shape):
        raise ValueError(f"{name} is {tuple(m.shape[-2:])} but the reference tile {tuple(shape)}")
    if (bad := (m != 0) & (m != 1)).any():
        raise ValueError(
            f"{name}: expected a binary mask (bool, or 0 and 1), found the value {float(m[bad][0]):g}; threshold "
            f"a soft mask first (mask >= 0.5) or pick one class of a label map (labels == k)"
        )
    return m


def mask_iou(pred: Any, true: Any) -> float:
    """Pooled IoU of boolean masks of one shape, 1.0 when both are empty (as ``xmodal_lab.eval.iou``)."""
    pred, true = np.asarray(pred, dtype=bool), np.asarray(true, dtype=bool)
    union = (pred | true).sum()
    return 1.0 if union == 0 else float((pred & true).sum() / union)


def mask_coverage(mask: Tensor, grid: tuple[int, int]) -> Tensor:
    """Fraction of each feature cell covered by a pixel mask ``[B, H, W]``: ``[B, h, w]`` in ``[0, 1]``."""
    return F.adaptive_avg_pool2d(mask.float()[:, None], grid)[:, 0]


def target_embedding(features: Tensor, mask: Any, background: bool = False, weighting: str = "centre") -> Tensor:
    """Mean feature ``[D]`` inside a mask ``[(B,) H, W]``: PerSAM's target embedding (``background``: outside).

    ``"centre"`` (PerSAM) counts cells centred in the mask; ``"coverage"`` weighs them by cover (steadier).
    """
    m = binary_mask(mask).to(features.device)
    if m.shape[0] != features.shape[0]:
        raise ValueError(f"mask holds {m.shape[0]} images but features {features.shape[0]}")
    grid = tuple(features.shape[-2:])
    if weighting == "coverage":
        w = mask_coverage(m, grid)
    elif weighting == "centre":
        w = (F.interpolate(m[:, None], size=grid, mode="bilinear", align_corners=False)[:, 0] >= 0.5).float()
    else:
        raise ValueError(f"weighting must be 'centre' or 'coverage', got {weighting!r}")
    w = 1.0 - w if background else w
    if w.sum() <= 0:
        what = "background (the mask covers every cell)" if background else "mask (no cell lies inside it)"
        raise ValueError(f"cannot build an embedding: empty {what}")
    return torch.einsum("bdhw,bhw->d", features, w) / w.sum()


def background_prototypes(features: Tensor, mask: Any, k: int = 4) -> Tensor:
    """Up to ``k`` unit prototypes ``[k', D]`` of the reference outside the mask (spherical k-means)."""
    m = binary_mask(mask).to(features.device)
    weight = (1.0 - mask_coverage(m, tuple(features.shape[-2:]))).reshape(-1)  # [N]
    x = F.normalize(features.permute(0, 2, 3, 1).reshape(-1, features.shape[1]), dim=1)  # [N, D]
    keep = weight > 0.5  # the cells mostly outside the mask
    x, weight = x[keep], weight[keep]
    if len(x) == 0:
        return x
    centres = [int(weight.argmax())]  # a farthest-point start
    while len(centres) < min(k, len(x)):
        sim = (x @ x[centres].T).max(dim=1).values  # [N]
        sim[centres] = float("inf")
        centres.append(int(sim.argmin()))
    c = x[centres]
    for _ in range(10):
        onehot = F.one_hot((x @ c.T).argmax(dim=1), len(c)).float() * weight[:, None]  # [N, k]
        c = torch.where(onehot.sum(0)[:, None] > 0, F.normalize(onehot.T @ x, dim=1), c)
    return c


def cosine_confidence(features: Tensor, embedding: Tensor) -> Tensor:
    """Cosine similarity of every feature cell ``[B, D, h, w]`` with an embedding ``[D]``: ``[B, h, w]``."""
    return torch.einsum("bdhw,d->bhw", F.normalize(features, dim=1), F.normalize(embedding, dim=0))


def prototype_confidence(features: Tensor, embedding: Tensor, background: Tensor | None = None) -> Tensor:
    """Cosine to ``embedding [D]`` less that to the nearest ``background [K, D]`` prototype: ``[B, h, w]``."""
    conf = cosine_confidence(features, embedding)
    if background is None or len(background) == 0:
        return conf
    sims = torch.einsum("bdhw,kd->bkhw", F.normalize(features, dim=1), F.normalize(background, dim=1))
    return conf - sims.max(dim=1).values


def upsample_confidence(confidence: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear upsampling of a patch-level map ``[B, h, w]`` to pixels ``[B, H, W]``."""
    return F.interpolate(confidence[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def extreme_points(confidence: Tensor) -> tuple[Tensor, Tensor]:
    """PerSAM's location prior: the maximum and minimum of each map ``[B, H, W]`` as ``(x, y)`` ``[B, 2]``."""
    w, flat = confidence.shape[-1], confidence.flatten(1)  # [B, H*W]
    pos, neg = flat.argmax(dim=1), flat.argmin(dim=1)
    return torch.stack([pos % w, pos // w], dim=1), torch.stack([neg % w, neg // w], dim=1)


def best_threshold(confidence: Tensor, mask: Any) -> tuple[float, float]:
    """``(threshold, iou)``: the cut ``confidence >= threshold`` that best fits a mask, found in one pass."""
    conf = confidence.reshape(-1).float()
    truth = binary_mask(mask).reshape(-1).to(conf.device) > 0.5
    if truth.numel() != conf.numel():
        raise ValueError(f"mask has {truth.numel()} pixels but the confidence map {conf.numel()}")
    order = conf.argsort(descending=True)
    values, tp = conf[order], truth[order].float().cumsum(0)  # from the top; tp: true pixels in the top n
    n = torch.arange(1, len(conf) + 1, device=conf.device, dtype=torch.float32)
    ious = tp / (n + truth.sum() - tp)
    ious[:-1][values[1:] == values[:-1]] = -1.0  # cut after a value's last copy (ties go in together)
    k = int(ious.argmax())
    return float(values[k]), float(ious[k])


def feature_fn(encoder: Any, modality: str | None = None) -> FeatureFn:
    """An encoder as a function from images ``[B, C, H, W]`` to patch features ``[B, D, h, w]``.

    A kit model needs a ``modality`` (``"s1+s2"``: ``[B, 14, H, W]``, both features normalised and joined).
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

    Each pixel averages 3 x 3 patches, weighted by distance and by how alike ``guide [B, C, H, W]`` they are.
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


def one_shot_segment(encoder: Any, reference: Any, reference_mask: Any, targets: Any,
                     modality: str | None = None, threshold: float | str = "auto", n_background: int = 4,
                     upsample: str = "guided", batch_size: int = 32) -> OneShotResult:
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


def band_image(tiles: Any, band: str) -> Tensor:
    """One band or index of tiles ``[(B,) C, H, W]``: ``"vv"``, ``"vh"`` (dB), ``"ndvi"`` or ``"ndwi"`` (McFeeters)."""
    if band not in BASELINE_BANDS:
        raise InputValueError(f"band must be one of {sorted(BASELINE_BANDS)}, got {band!r}")
    x, want = as_float_tensor(tiles), 2 if BASELINE_BANDS[band] == "s1" else 12
    if x.ndim not in (3, 4) or x.shape[-3] != want:
        raise InputValueError(f"band {band!r} is read from {BASELINE_BANDS[band]} tiles [{want}, H, W] or "
                              f"[B, {want}, H, W], got shape {tuple(x.shape)}")
    if band in ("vv", "vh"):
        return x[..., 0 if band == "vv" else 1, :, :]
    a, b = x[..., [_NIR, _RED] if band == "ndvi" else [_GREEN, _NIR], :, :].unbind(-3)
    return (a - b) / (a + b + 1e-6)


@dataclass
class BaselineResult:
    """Masks ``[B, H, W]`` of a band threshold (``below``: class below it) and its IoU on the reference."""

    masks: np.ndarray
    band: str
    below: bool
    threshold: float
    reference_iou: float

    def __str__(self) -> str:
        return f"{self.band} {'<=' if self.below else '>='} {self.threshold:.3g}"


def band_threshold_segment(reference: Any, reference_mask: Any, targets: Any, band: str,
                           below: bool) -> BaselineResult:
    """The band cut that best fits the reference mask (``below``: class ``<= t``), applied to ``targets``."""
    values = band_image(reference, band)
    t, ref_iou = best_threshold(-values if below else values, np.asarray(reference_mask, dtype=bool))
    t, values = -t if below else t, band_image(targets, band)
    masks = (values <= t) if below else (values >= t)
    return BaselineResult(masks.numpy(), band, bool(below), float(t), float(ref_iou))


def pick_one_shot_tiles(tiles: Sequence[dict], class_index: int, n_targets: int) -> tuple[dict, list[dict]]:
    """``(reference, targets)``: the samples a class covers most, on 20 % to 80 % of the tile."""
    share = (0.2, 0.8)
    frac = np.array([float((t["landcover"] == class_index).float().mean()) for t in tiles])
    order = [int(i) for i in np.argsort(-frac, kind="stable") if share[0] < frac[i] < share[1]]
    if len(order) < n_targets + 1:
        raise InputValueError(f"only {len(order)} tiles have class {class_index} on {share[0]:.0%}-"
                              f"{share[1]:.0%} of their pixels; need {n_targets + 1} (a larger world or "
                              "fewer targets)")
    return tiles[order[0]], [tiles[i] for i in order[1 : 1 + n_targets]]


@dataclass
class OneShotComparison:
    """Encoder one-shot vs. the band threshold on the same targets: pooled IoU and predicted/true area."""

    iou: float
    baseline_iou: float
    area_ratio: float
    baseline_area_ratio: float
    baseline: str
    result: OneShotResult
    baseline_masks: np.ndarray
    truth: np.ndarray


def compare_one_shot(encoder: Any, reference: dict, targets: Sequence[dict], class_name: str,
                     class_index: int, modality: str,
                     band: tuple[str, bool] | None = None) -> OneShotComparison:
    """One ``landcover`` class segmented with the encoder and with ``band`` (default: DEFAULT_BASELINES)."""
    if band is None:
        if class_name not in DEFAULT_BASELINES:
            raise InputValueError(f"no default baseline band for {class_name!r}: pass band=(name, below)")
        band = DEFAULT_BASELINES[class_name][modality]
    truth = torch.stack([t["landcover"] == class_index for t in targets]).numpy()
    ref_mask, images = reference["landcover"] == class_index, torch.stack([t[modality] for t in targets])
    out = one_shot_segment(encoder, reference[modality], ref_mask, images, modality=modality)
    base = band_threshold_segment(reference[modality], ref_mask, images, band[0], band[1])
    area = max(int(truth.sum()), 1)
    ious = mask_iou(out.masks, truth), mask_iou(base.masks, truth)
    ratios = float(out.masks.sum() / area), float(base.masks.sum() / area)
    return OneShotComparison(*ious, *ratios, str(base), out, base.masks, truth)
