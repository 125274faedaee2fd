"""SkySense (Guo et al., CVPR 2024) for Sentinel-1 and -2: multi-granularity contrastive learning."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Block, ViTEncoder, init_weights
from .losses import info_nce
from .masking import tokens_to_map
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .sinkhorn import sinkhorn, sinkhorn_kmeans
from .skysense_inputs import (
    DAYS_IN_YEAR,
    check_location,
    dihedral,
    dihedral_inverse,
    frame_days,
    geo_region,
    per_image,
)
from .validation import batch_item, model_input

GRANULARITIES: tuple[str, ...] = ("pixel", "object", "image")
STREAMS: tuple[str, ...] = ("s1", "s2", "joint")


@dataclass
class SkySenseConfig:
    """Configuration of :class:`SkySense`."""

    img_size: int = 32
    patch_size: int = 4
    embed_dim: int = 64
    depth: int = 2
    fusion_depth: int = 1
    num_heads: int = 4
    mlp_ratio: float = 4.0
    proj_dim: int = 64
    temperature: float = 0.2
    pixel_samples: int = 256  # pixel pairs contrasted per stream and date (0: every pixel of the batch)
    n_clusters: int = 4  # objects (Sinkhorn k-means clusters) per image
    ema_momentum: float = 0.99
    region_grid: tuple[int, int] = (6, 12)  # (latitude bands, longitude bands) of the geo-context regions
    n_prototypes: int = 8
    prototype_momentum: float = 0.9
    sinkhorn_eps: float = 0.05
    sinkhorn_iters: int = 3
    aug_jitter: float = 0.1  # radiometric augmentation, in standard deviations of the standardised input
    align_weight: float = 1.0
    granularities: tuple[str, ...] = GRANULARITIES  # levels of L_FGCL that train; every level is reported
    geo_context: bool = True  # attend to the region's prototypes (paper); False: F_fus = F^mm


_SMALL = dict(img_size=64, patch_size=8, embed_dim=256, depth=6, fusion_depth=2, num_heads=8, proj_dim=256,
              n_clusters=8, n_prototypes=32, ema_momentum=0.996, prototype_momentum=0.99)  # fmt: skip
# ViT-B spatial encoders and the paper's 100 prototypes per region
_BASE = dict(img_size=128, patch_size=16, embed_dim=768, depth=12, fusion_depth=6, num_heads=12, proj_dim=256,
             n_clusters=8, region_grid=(32, 64), n_prototypes=100, ema_momentum=0.996,
             prototype_momentum=0.99)  # fmt: skip
PRESETS = {"tiny": SkySenseConfig(), "small": SkySenseConfig(**_SMALL), "base": SkySenseConfig(**_BASE)}


def _nce(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    """Symmetric InfoNCE of matching rows of ``a`` and ``b`` ``[n, P]`` on cosine similarity."""
    return info_nce(F.normalize(a, dim=-1), F.normalize(b, dim=-1), 1.0 / temperature)[0]


def _projector(dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, out_dim))


class SkySenseNet(nn.Module):
    """The part of SkySense that the EMA teacher copies: encoders, fusion, geo-context projection, projectors."""

    def __init__(self, config: SkySenseConfig) -> None:
        super().__init__()
        c, d = config, config.embed_dim
        self.use_geo_context = c.geo_context
        self.encoders = nn.ModuleDict({m: ViTEncoder(ch, c.patch_size, d, c.depth, c.num_heads, c.mlp_ratio)
                                       for m, ch in (("s1", S1_CHANNELS), ("s2", S2_CHANNELS))})  # fmt: skip
        self.modality_embed = nn.ParameterDict({m: nn.Parameter(torch.zeros(1, 1, d)) for m in ("s1", "s2")})
        self.date_embed = nn.Parameter(torch.zeros(DAYS_IN_YEAR, d))  # P_DTPE
        self.extra_token = nn.Parameter(torch.zeros(1, 1, d))  # F_e
        self.fusion = nn.ModuleList(Block(d, c.num_heads, c.mlp_ratio) for _ in range(c.fusion_depth))
        self.fusion_norm = nn.LayerNorm(d)
        self.geo_proj = nn.Linear(2 * d, d)
        self.projectors = nn.ModuleDict({k: _projector(d, c.proj_dim) for k in STREAMS})
        self.apply(init_weights)
        for p in [*self.modality_embed.values(), self.date_embed, self.extra_token]:
            nn.init.trunc_normal_(p, std=0.02)

    def fuse(self, maps: dict[str, Tensor], doy: dict[str, Tensor | None]) -> Tensor:
        """Per-pixel fusion of every date and modality ``{m: [B, T_m, D, h, w]}`` into ``F^mm [B, N, D]``."""
        seqs = []
        for name, m in maps.items():
            b, t, d, h, w = m.shape
            tok = m.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, d) + self.modality_embed[name]  # [B*N, T, D]
            if doy.get(name) is not None:
                tok = tok + self.date_embed[doy[name].to(m.device)].repeat_interleave(h * w, dim=0)
            seqs.append(tok)
        x = torch.cat([self.extra_token.expand(seqs[0].shape[0], -1, -1), *seqs], dim=1)
        for blk in self.fusion:
            x = blk(x)
        return self.fusion_norm(x[:, 0]).reshape(b, h * w, d)  # the extra token's output

    def geo_context(self, mm: Tensor, prototypes: Tensor) -> Tensor:
        """``F_fus = W Concat[F^mm, softmax(F^mm P^T / sqrt(D)) P]``, ``mm [B, N, D]``, ``prototypes [B, K, D]``."""
        p = prototypes.to(mm.dtype).unsqueeze(1)  # [B, 1, K, D]; the buffer is float32, mm may be bf16
        ctx = F.scaled_dot_product_attention(mm.unsqueeze(1), p, p).squeeze(1)  # [B, N, D]
        return self.geo_proj(torch.cat([mm, ctx], dim=-1))

    def forward(self, x: dict[str, Tensor], doy: dict, prototypes: Tensor | None) -> dict[str, Tensor]:
        """Encode ``{m: [B, T_m, C, H, W]}`` to ``{m: [B, T_m, D, h, w]}`` and ``mm``, ``joint`` ``[B, N, D]``."""
        out = {}
        for name, v in x.items():
            maps = self.encoders[name].feature_map(v.flatten(0, 1))  # [B*T, D, h, w]
            out[name] = maps.reshape(*v.shape[:2], *maps.shape[1:])
        if len(out) == 2 and prototypes is not None:
            out["mm"] = self.fuse(out, doy)
            out["joint"] = self.geo_context(out["mm"], prototypes) if self.use_geo_context else out["mm"]
        return out


class SkySense(nn.Module):
    """SkySense-style radar-optical model: multi-granularity contrastive pretraining with geo-context."""

    name = "skysense"

    def __init__(self, config: SkySenseConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else SkySenseConfig()
        if not 0.0 <= c.ema_momentum < 1.0 or not 0.0 <= c.prototype_momentum < 1.0:
            raise ValueError("ema_momentum and prototype_momentum must lie in [0, 1)")
        levels = tuple(c.granularities)
        if not levels or set(levels) - set(GRANULARITIES) or len(set(levels)) != len(levels):
            raise ValueError(f"granularities must be a non-empty subset of {GRANULARITIES} without repeats, "
                             f"got {levels}")  # fmt: skip
        if (c.img_size // c.patch_size) ** 2 < c.n_clusters:
            raise ValueError(f"n_clusters={c.n_clusters} exceeds the {(c.img_size // c.patch_size) ** 2} "
                             "feature pixels")  # fmt: skip
        self.norm_s1, self.norm_s2 = s1_norm(), s2_norm()
        self.student = SkySenseNet(c)
        self.teacher = copy.deepcopy(self.student).requires_grad_(False)
        # layer-normalised features have unit variance per channel: start the prototypes at that scale
        n_regions = c.region_grid[0] * c.region_grid[1]
        self.register_buffer("prototypes", torch.randn(n_regions, c.n_prototypes, c.embed_dim))

    def _inputs(self, s1: Tensor | None, s2: Tensor | None) -> dict[str, Tensor]:
        if s1 is None and s2 is None:
            raise ValueError("pass at least one of s1=[B, 2, H, W] (dB) or s2=[B, 12, H, W] (reflectance)")
        out = {}
        for name, x, ch in (("s1", s1, S1_CHANNELS), ("s2", s2, S2_CHANNELS)):
            if x is not None:
                x = model_input(x, ch, self.config.patch_size, name, time_series=True, config=self.config)
                x = x.unsqueeze(1) if x.ndim == 4 else x  # [B, T, C, H, W]
                out[name] = getattr(self, f"norm_{name}")(x.flatten(0, 1)).reshape(x.shape)
        shapes = {(v.shape[0], v.shape[-2:]) for v in out.values()}
        if len(shapes) > 1:
            raise ValueError(f"s1 and s2 must be co-registered tiles of one size and count, got "
                             f"{tuple(s1.shape)}, {tuple(s2.shape)}")  # fmt: skip
        return out

    def _prototypes_for(self, n_images: int, lat: object, lon: object) -> Tensor:
        if lat is None or lon is None:  # unknown location: every region's prototypes
            return self.prototypes.flatten(0, 1).unsqueeze(0).expand(n_images, -1, -1)
        lat, lon = check_location(lat, lon)
        return self.prototypes[geo_region(lat, lon, self.config.region_grid).to(self.prototypes.device)]

    @torch.no_grad()
    def _encode(self, s1, s2, date, lat, lon) -> dict[str, Tensor]:
        x = self._inputs(s1, s2)
        n = next(iter(x.values())).shape[0]
        return self.student(x, frame_days(x, date), self._prototypes_for(n, lat, lon))

    def features(self, s1=None, s2=None, gsd=None, date=None, lat=None, lon=None) -> dict[str, Tensor]:
        """The student's feature maps ``{"s1", "s2", "joint": [B, D, h, w]}`` of (time series of) tiles."""
        enc = self._encode(s1, s2, date, lat, lon)
        out = {k: enc[k].mean(dim=1) for k in ("s1", "s2") if k in enc}
        if "joint" in enc:
            out["joint"] = tokens_to_map(enc["joint"], tuple(out["s1"].shape[-2:]))
        return out

    def embed(self, s1=None, s2=None, gsd=None, date=None, lat=None, lon=None) -> dict[str, Tensor]:
        """One vector per tile, ``{"s1", "s2", "joint": [B, D]}``: the average-pooled :meth:`features`."""
        return {k: v.mean(dim=(-2, -1)) for k, v in self.features(s1, s2, gsd, date, lat, lon).items()}

    @torch.no_grad()
    def update_teacher(self, momentum: float | None = None) -> None:
        """EMA step of the teacher, ``theta' <- m theta' + (1 - m) theta`` (default ``m = ema_momentum``)."""
        m = self.config.ema_momentum if momentum is None else momentum
        for pt, ps in zip(self.teacher.parameters(), self.student.parameters()):
            pt.mul_(m).add_(ps.detach(), alpha=1.0 - m)

    @torch.no_grad()
    def update_prototypes(self, features: Tensor, regions: Tensor, momentum: float | None = None) -> None:
        """``P_r <- m P_r + (1 - m) S^T F`` per region, ``S`` the Sinkhorn assignment of ``F = F^mm``."""
        c, regions = self.config, regions.to(features.device)
        m = c.prototype_momentum if momentum is None else momentum
        for r in regions.unique().tolist():
            f = features[regions == r].flatten(0, 1).float()  # [n, D], every pixel of the region's images
            sim = F.normalize(f, dim=-1) @ F.normalize(self.prototypes[r], dim=-1).t()  # [n, K]
            plan = sinkhorn(sim, c.sinkhorn_eps, c.sinkhorn_iters)
            assign = plan / plan.sum(dim=0, keepdim=True).clamp_min(1e-12)
            self.prototypes[r] = m * self.prototypes[r] + (1.0 - m) * (assign.t() @ f)

    def _augment(self, x: dict[str, Tensor], ks: Tensor) -> dict[str, Tensor]:
        # one flip/rotation per image shared by both modalities and all dates; jitter per image and band
        j, out = self.config.aug_jitter, {}
        for name, v in x.items():
            v = per_image(dihedral, v, ks)
            gain = 1.0 + j * torch.randn(*v.shape[:3], 1, 1, device=v.device)
            offset = j * torch.randn(*v.shape[:3], 1, 1, device=v.device)
            out[name] = v * gain + offset + 0.5 * j * torch.randn_like(v)
        return out

    def _aligned_tokens(self, enc: dict[str, Tensor], ks: Tensor, net: SkySenseNet) -> dict[str, Tensor]:
        """Undo each view's flip/rotation on the features and project: ``{stream: [B, T, N, P]}``."""
        h, w = enc["s1"].shape[-2:]
        maps = {"s1": enc["s1"], "s2": enc["s2"], "joint": tokens_to_map(enc["joint"], (h, w)).unsqueeze(1)}
        return {k: net.projectors[k](per_image(dihedral_inverse, m, ks).flatten(-2).transpose(-1, -2))
                for k, m in maps.items()}  # fmt: skip

    def _contrast(self, z: Tensor, z_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(L_pix, L_obj, L_img)`` between student and teacher projections ``[B, T, N, P]``, dates averaged."""
        c, tau = self.config, self.config.temperature
        pix, obj, img = [], [], []
        for t in range(z.shape[1]):
            a, b = z[:, t], z_t[:, t]  # [B, N, P]
            fa, fb = a.flatten(0, 1), b.flatten(0, 1)
            if 0 < c.pixel_samples < fa.shape[0]:
                idx = torch.randperm(fa.shape[0], device=fa.device)[: c.pixel_samples]
                fa, fb = fa[idx], fb[idx]
            pix.append(_nce(fa, fb, tau))
            # objects: the teacher's pixels grouped by balanced k-means; the same groups pooled in both views
            assign, _ = sinkhorn_kmeans(b, c.n_clusters, eps=c.sinkhorn_eps, n_iters=c.sinkhorn_iters)
            weights = assign / assign.sum(dim=1, keepdim=True).clamp_min(1e-6)  # [B, N, K], columns sum to 1
            objects_a, objects_b = weights.transpose(1, 2) @ a, weights.transpose(1, 2) @ b  # [B, K, P]
            obj.append(_nce(objects_a.flatten(0, 1), objects_b.flatten(0, 1), tau))
            img.append(_nce(a.mean(1), b.mean(1), tau))
        return torch.stack(pix).mean(), torch.stack(obj).mean(), torch.stack(img).mean()

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Pretraining step: two views, student vs EMA teacher at three granularities, prototype update."""
        c = self.config
        x = self._inputs(batch_item(batch, "s1", self.name), batch_item(batch, "s2", self.name))
        doy, b = frame_days(x, batch.get("date")), x["s1"].shape[0]
        lat, lon = batch.get("lat"), batch.get("lon")
        protos = self._prototypes_for(b, lat, lon)  # checks lat and lon
        if self.training:
            self.update_teacher()
        ks_u, ks_v = torch.randint(0, 8, (b,)), torch.randint(0, 8, (b,))
        enc_s = self.student(self._augment(x, ks_u), doy, protos)
        with torch.no_grad():
            enc_t = self.teacher(self._augment(x, ks_v), doy, protos)
        z_s = self._aligned_tokens(enc_s, ks_u, self.student)
        z_t = {k: v.detach() for k, v in self._aligned_tokens(enc_t, ks_v, self.teacher).items()}
        terms = {s: dict(zip(GRANULARITIES, self._contrast(z_s[s], z_t[s]))) for s in STREAMS}
        per_stream = {s: sum(terms[s][level] for level in c.granularities) for s in STREAMS}
        mgcl = sum(per_stream.values())
        img_s1, img_s2 = z_s["s1"].mean(dim=(1, 2)), z_s["s2"].mean(dim=(1, 2))  # [B, P], dates and pixels
        align = _nce(img_s1, img_s2, c.temperature)
        if lat is not None and lon is not None:
            region = geo_region(lat, lon, c.region_grid)
            if self.training and c.geo_context:
                self.update_prototypes(enc_s["mm"].detach(), region)
        else:
            region = torch.full((b,), -1, dtype=torch.long)
        out = {"loss": mgcl + c.align_weight * align if c.align_weight else mgcl}
        out.update({f"loss_{s}": v.detach() for s, v in per_stream.items()})
        out.update({f"loss_{lv}": sum(terms[s][lv] for s in STREAMS).detach() for lv in GRANULARITIES})
        out.update({"loss_mgcl": mgcl.detach(), "loss_align": align.detach(), "region": region})
        return {**out, "joint": enc_s["joint"]}


__all__ = ["GRANULARITIES", "PRESETS", "SkySense", "SkySenseConfig", "SkySenseNet"]
