"""MMEarth (Nedungadi et al., ECCV 2024): an optical masked autoencoder with uncertainty-weighted tasks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import MAEDecoder, ViTEncoder, init_weights
from .losses import masked_mean, norm_pix_target
from .masking import patchify, random_masking
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .validation import batch_item, model_input

TASKS: tuple[str, ...] = ("s2", "s1", "landcover", "labels")  # the order of ``log_vars``


@dataclass
class MMEarthConfig:
    """Configuration of :class:`MMEarth`."""

    img_size: int = 32
    patch_size: int = 4
    embed_dim: int = 64
    depth: int = 2
    num_heads: int = 4
    mlp_ratio: float = 4.0
    decoder_dim: int = 64
    decoder_depth: int = 1
    decoder_heads: int = 4
    mask_ratio: float = 0.6
    tasks: tuple[str, ...] = TASKS  # pretext tasks, a subset of TASKS containing "s2"
    n_landcover: int = 8  # land-cover classes; negative ids in ``landcover`` are ignored
    n_labels: int = 8  # length of the multi-hot ``labels``
    norm_pix_loss: bool = False  # standardise each optical target patch (radar: per band only)
    weighting: str = "uncertainty"  # exp(-s) L + s, or "sum" of the task losses


PRESETS: dict[str, MMEarthConfig] = {
    "tiny": MMEarthConfig(),
    "small": MMEarthConfig(img_size=64, patch_size=8, embed_dim=256, depth=6, num_heads=8, decoder_dim=256,
                           decoder_heads=8),
    # a ViT-B/16 (the paper's ConvNeXt V2 costs about as much) on MMEarth's 112 px tiles
    "base": MMEarthConfig(img_size=112, patch_size=16, embed_dim=768, depth=12, num_heads=12, decoder_dim=512,
                          decoder_heads=16),
}  # fmt: skip


class UncertaintyWeighting(nn.Module):
    """Multi-task weighting by learned uncertainty, ``sum_t exp(-s_t) L_t + s_t``; a zero loss adds 0."""

    def __init__(self, tasks: tuple[str, ...]) -> None:
        super().__init__()
        self.tasks = tuple(tasks)
        self.log_vars = nn.Parameter(torch.zeros(len(self.tasks)))

    def weights(self) -> dict[str, Tensor]:
        """Current weight ``exp(-s_t)`` of each task (detached)."""
        return {t: torch.exp(-s) for t, s in zip(self.tasks, self.log_vars.detach())}

    def forward(self, losses: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """The total ``sum_t [L_t != 0] (exp(-s_t) L_t + s_t)`` of ``{task: loss}``, and each task's term."""
        missing = sorted(set(self.tasks) - set(losses))
        if missing:
            raise KeyError(f"UncertaintyWeighting: no loss for task(s) {missing}")
        pairs = zip(self.tasks, self.log_vars)
        terms = {t: (torch.exp(-s) * losses[t] + s) * (losses[t] != 0) for t, s in pairs}
        return torch.stack(list(terms.values())).sum(), terms


class MMEarth(nn.Module):
    """Multi-pretext masked autoencoder on optical input."""

    name = "mmearth"

    def __init__(self, config: MMEarthConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else MMEarthConfig()
        if set(c.tasks) - set(TASKS) or "s2" not in c.tasks:
            raise ValueError(f"tasks must include 's2' and come from {TASKS}, got {c.tasks}")
        if c.weighting not in ("uncertainty", "sum"):
            raise ValueError(f"weighting must be 'uncertainty' or 'sum', got {c.weighting!r}")
        if not 0.0 < c.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in (0, 1), got {c.mask_ratio}")
        self.tasks = tuple(t for t in TASKS if t in c.tasks)
        self.norm_s1, self.norm_s2 = s1_norm(), s2_norm()
        self.encoder = ViTEncoder(S2_CHANNELS, c.patch_size, c.embed_dim, c.depth, c.num_heads, c.mlp_ratio)
        d, pp = c.decoder_dim, c.patch_size**2
        # one decoder shared by all tasks; a head each, per pixel of a patch except the scene labels
        self.decoder = MAEDecoder(c.embed_dim, d, c.decoder_depth, c.decoder_heads, c.mlp_ratio)
        out_dims = {"s2": pp * S2_CHANNELS, "s1": pp * S1_CHANNELS, "landcover": pp * c.n_landcover,
                    "labels": c.n_labels}  # fmt: skip
        self.heads = nn.ModuleDict({t: nn.Linear(d, out_dims[t]) for t in self.tasks})
        self.weighting = UncertaintyWeighting(self.tasks)
        self.apply(init_weights)
        nn.init.normal_(self.decoder.mask_token, std=0.02)

    def _optical(self, s2: Tensor | None) -> Tensor:
        if s2 is None:
            raise ValueError("MMEarth encodes optical tiles only: pass s2=[B, 12, H, W] (radar is a "
                             "pretraining target)")  # fmt: skip
        return self.norm_s2(model_input(s2, S2_CHANNELS, self.config.patch_size, "s2", config=self.config))

    def features(self, s1: Tensor | None = None, s2: Tensor | None = None, gsd: object = None) -> dict:
        """Patch features ``{"s2": [B, D, H/p, W/p]}`` of an optical tile ``s2 [B, 12, H, W]``."""
        return {"s2": self.encoder.feature_map(self._optical(s2))}

    def embed(self, s1: Tensor | None = None, s2: Tensor | None = None, gsd: object = None) -> dict:
        """One vector per optical tile, the mean encoder token: ``{"s2": [B, D]}`` (s1, gsd ignored)."""
        return {"s2": self.encoder(self._optical(s2)).mean(dim=1)}

    def forward_encoder(self, x: Tensor, mask_ratio: float) -> tuple[Tensor, Tensor, Tensor]:
        """Encode a random ``1 - mask_ratio`` of ``x``: ``latent [B, K, D]``, ``mask``, ``ids_restore``."""
        grid = self.encoder.grid(x)
        n = grid[0] * grid[1]
        n_keep = max(1, int(n * (1 - mask_ratio)))  # int(), not round(), as MMEarth's masking
        ids_keep, mask, ids_restore = random_masking(x.shape[0], n, 1 - n_keep / n, x.device)
        return self.encoder(x, ids_keep=ids_keep), mask, ids_restore

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor, grid: tuple[int, int]) -> dict:
        """Shared decoder and task heads: pixel tasks ``[B, N, p*p*C_t]``, ``labels`` logits ``[B, n_labels]``."""
        x = self.decoder(latent, ids_restore, grid)  # [B, N, Dd]
        return {t: head(x.mean(dim=1) if t == "labels" else x) for t, head in self.heads.items()}

    def forward_loss(self, pred: dict[str, Tensor], batch: dict, x2: Tensor, mask: Tensor) -> dict:
        """``{task: loss}``: squared error or cross-entropy over hidden patches; binary cross-entropy for labels."""
        c, losses = self.config, {}
        p = c.patch_size
        target = patchify(x2, p)  # [B, N, p*p*12]
        if c.norm_pix_loss:
            target = norm_pix_target(target)
        losses["s2"] = masked_mean(((pred["s2"] - target) ** 2).mean(-1), mask)
        if "s1" in pred:
            s1 = model_input(batch_item(batch, "s1", self.name), S1_CHANNELS, p, "s1", config=c)
            tgt = patchify(self.norm_s1(s1), p)
            losses["s1"] = masked_mean(((pred["s1"] - tgt) ** 2).mean(-1), mask)
        if "landcover" in pred:
            lc = batch_item(batch, "landcover", self.name).long()
            if lc.shape != (x2.shape[0], *x2.shape[-2:]):
                raise ValueError(f"landcover: expected [B, H, W] = {(x2.shape[0], *x2.shape[-2:])}, "
                                 f"got {tuple(lc.shape)}")  # fmt: skip
            if lc.max() >= c.n_landcover:
                raise ValueError(f"landcover: class id {int(lc.max())} >= n_landcover={c.n_landcover}")
            tgt = patchify(lc.unsqueeze(1).float(), p).long()  # [B, N, p*p]
            logits = pred["landcover"].reshape(*tgt.shape, c.n_landcover)  # [B, N, p*p, classes]
            ce = F.cross_entropy(logits.flatten(0, 2), tgt.clamp_min(0).flatten(), reduction="none")
            valid = (tgt >= 0).float().flatten()
            weight = mask.unsqueeze(-1).expand_as(tgt).flatten() * valid
            losses["landcover"] = (ce * weight).sum() / weight.sum().clamp_min(1.0)
        if "labels" in pred:
            labels = batch_item(batch, "labels", self.name).float()
            if labels.shape != pred["labels"].shape:
                raise ValueError(f"labels: expected multi-hot [B, {c.n_labels}], got {tuple(labels.shape)}")
            losses["labels"] = F.binary_cross_entropy_with_logits(pred["labels"], labels)
        return losses

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Pretraining step: ``loss``, ``loss_<task>`` and ``weight_<task>``, ``mask``, ``pred_s2``."""
        x2 = self._optical(batch_item(batch, "s2", self.name))
        latent, mask, ids_restore = self.forward_encoder(x2, self.config.mask_ratio)
        pred = self.forward_decoder(latent, ids_restore, self.encoder.grid(x2))
        losses = self.forward_loss(pred, batch, x2, mask)
        if self.config.weighting == "uncertainty":
            total, _ = self.weighting(losses)
        else:
            total = torch.stack(list(losses.values())).sum()
        out: dict[str, Tensor] = {"loss": total, "mask": mask, "pred_s2": pred["s2"]}
        out.update({f"loss_{t}": v.detach() for t, v in losses.items()})
        out.update({f"weight_{t}": w for t, w in self.weighting.weights().items()})
        return out


__all__ = ["MMEarth", "MMEarthConfig", "PRESETS", "TASKS", "UncertaintyWeighting"]
