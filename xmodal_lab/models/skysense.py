"""SkySense-style multi-granularity contrastive learning with geo-context prototypes (Guo et al., CVPR 2024).

A small, readable version of SkySense's pretraining for Sentinel-1 and Sentinel-2 (the paper also has a
very-high-resolution optical branch, left out here):

1. **Factorised spatio-temporal encoder.** Each modality has its own spatial ViT ``g_i`` applied to every
   date: ``F_i = g_i(x_i)``, ``[B, T_i, N, D]``. For each pixel (patch position), the features of all dates
   and both modalities, plus a modality embedding and a **date encoding** from a learnable day-of-year table
   ``P_DTPE [366, D]`` (``F^date = F + P_DTPE[t]``, the calendar-time table of SkySense++), form a short
   sequence with an extra token ``F_e``; fusion transformer blocks turn it into the multi-modal feature
   ``F^mm_fus`` (the extra token's output), ``[B, N, D]``.
2. **Geo-context prototypes.** The globe is cut into a lat/lon grid of ``N_R`` regions, each with ``K``
   prototypes ``P_r``. The fused feature attends to its region's prototypes,
   ``F_fus = Concat[F^mm, softmax(Q K^T / sqrt(d)) V]`` with ``Q = F^mm``, ``K = V = P_r`` (here the
   concatenation is projected back to ``D`` so every embedding has one width). The prototypes are not
   learned by gradient: during training, the student's ``F^mm`` of each region is assigned to the region's
   prototypes by Sinkhorn-Knopp on cosine similarity (``S``), and ``P_r <- m P_r + (1 - m) S^T F^mm``.
3. **Multi-granularity contrastive learning.** A student sees view ``u``, an EMA teacher view ``v`` of the
   same tiles (one random flip/rotation per view, shared by both modalities and all dates, plus radiometric
   jitter). Features are mapped back to a common frame, so spatial feature ``s`` of the student and of the
   teacher cover the same ground. For each modality and for the fused features, InfoNCE (``L_CL``) is applied
   at three granularities and the results added:
   ``L_FGCL = L_pix + L_obj + L_img``, with **pixel** features against their counterparts, **object**
   features (centres of a few Sinkhorn k-means clusters of the teacher's pixel features, the same pixel
   groups pooled in both views) and **image** features (average pooled);
   ``L_MGCL = sum_i L_FGCL(F_i, F'_i) + L_FGCL(F_fus, F'_fus)``. Multi-date features are contrasted date by
   date and averaged over the dates, as in the paper's ``1 / T_i sum_t``. Two named ablations (not the
   paper's method) let a lesson measure what each part adds: ``granularities=("image",)`` trains with the
   image-level term only, ``geo_context=False`` drops the prototypes (``F_fus = F^mm``).
4. **Cross-modal alignment.** The paper also aligns the modalities' features with each other before fusion
   (its Cross-Modal Alignment, analysed in the supplement's feature visualisations): without it, ``L_MGCL``
   only compares each stream with its own teacher and never asks radar and optical features of one place to
   agree. Here it is a symmetric InfoNCE between the student's image-level radar and optical projections of
   the same tiles (the other tiles of the batch as negatives), ``L_align``, and the loss is
   ``L = L_MGCL + align_weight * L_align`` (``align_weight=0`` gives ``L_MGCL`` alone, the earlier kit loss).
   What the kit simplifies: the paper's very-high-resolution optical branch is left out; the contrastive loss
   ``L_CL`` is InfoNCE with a fixed temperature; the alignment is applied at image level only, with the
   streams' own projection heads, and its weight is a config value rather than the paper's schedule.

The teacher follows the student by an exponential moving average of the weights (updated at the start of
each training forward, i.e. after the previous optimiser step): ``theta' <- m theta' + (1 - m) theta``.
"""

from __future__ import annotations

import copy
import datetime as _dt
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .blocks import Block, ViTEncoder, init_weights
from .losses import info_nce
from .masking import tokens_to_map
from .norms import S1_CHANNELS, S2_CHANNELS, s1_norm, s2_norm
from .sinkhorn import sinkhorn, sinkhorn_kmeans
from .validation import batch_item, model_input

#: The levels of the multi-granularity contrastive loss, in the order they are reported.
GRANULARITIES: tuple[str, ...] = ("pixel", "object", "image")

#: Rows of the day-of-year table: 366 days (index 0 = 1 January, 365 = 31 December of a leap year).
DAYS_IN_YEAR = 366


@dataclass
class SkySenseConfig:
    """Configuration of :class:`SkySense`.

    Attributes:
        img_size: nominal tile side in pixels; any multiple of the patch size works.
        patch_size: patch side; one "pixel" of the feature map covers ``patch_size`` pixels a side.
        embed_dim: width of the spatial encoders, the fusion and the embeddings.
        depth: blocks of each spatial encoder.
        fusion_depth: blocks of the per-pixel multi-modal, multi-date fusion transformer.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / width.
        proj_dim: width of the contrastive projection heads.
        temperature: InfoNCE temperature.
        pixel_samples: pixel pairs contrasted per stream and date (a random subset, to bound the cost of the
            ``[n, n]`` similarity matrix; 0 = all pixels of the batch).
        n_clusters: objects (Sinkhorn k-means clusters) per image for the object-level loss.
        ema_momentum: teacher EMA momentum ``m``.
        region_grid: ``(latitude bands, longitude bands)`` dividing the globe into regions.
        n_prototypes: prototypes per region.
        prototype_momentum: EMA momentum of the prototype update.
        sinkhorn_eps: Sinkhorn regularisation (clusters and prototypes).
        sinkhorn_iters: Sinkhorn iterations.
        aug_jitter: strength of the radiometric augmentation (per-band gain and offset, pixel noise), in
            standard deviations of the standardised input.
        align_weight: weight of the cross-modal alignment term ``L_align`` (radar vs optical image-level
            InfoNCE of the student); 0 turns it off.
        granularities: which levels of ``L_FGCL`` enter the loss, a non-empty subset of
            ``("pixel", "object", "image")``; the paper (and the default) uses all three. ``("image",)`` is the
            ablation "image-level only": the pixel and object terms are still computed and reported
            (``loss_pixel``, ``loss_object``) but do not train the model.
        geo_context: extend the fused features with attention over the region's prototypes (the paper's
            geo-context learning, default). False is the ablation without prototypes: ``F_fus = F^mm`` and
            the prototypes are never updated.
    """

    img_size: int = 32
    patch_size: int = 4
    embed_dim: int = 64
    depth: int = 2
    fusion_depth: int = 1
    num_heads: int = 4
    mlp_ratio: float = 4.0
    proj_dim: int = 64
    temperature: float = 0.2
    pixel_samples: int = 256
    n_clusters: int = 4
    ema_momentum: float = 0.99
    region_grid: tuple[int, int] = (6, 12)
    n_prototypes: int = 8
    prototype_momentum: float = 0.9
    sinkhorn_eps: float = 0.05
    sinkhorn_iters: int = 3
    aug_jitter: float = 0.1
    align_weight: float = 1.0
    granularities: tuple[str, ...] = GRANULARITIES
    geo_context: bool = True


PRESETS: dict[str, SkySenseConfig] = {
    "tiny": SkySenseConfig(),
    "small": SkySenseConfig(
        img_size=64,
        patch_size=8,
        embed_dim=256,
        depth=6,
        fusion_depth=2,
        num_heads=8,
        proj_dim=256,
        n_clusters=8,
        ema_momentum=0.996,
        n_prototypes=32,
        prototype_momentum=0.99,
    ),
    # ViT-B spatial encoders and a SkySense-like fusion depth; the paper's sizes otherwise (its optical
    # encoder is a Swin-H, its prototypes 100 per region over 4,096 regions)
    "base": SkySenseConfig(
        img_size=128,
        patch_size=16,
        embed_dim=768,
        depth=12,
        fusion_depth=6,
        num_heads=12,
        proj_dim=256,
        n_clusters=8,
        ema_momentum=0.996,
        region_grid=(32, 64),
        n_prototypes=100,
        prototype_momentum=0.99,
    ),
}


# ----------------------------------------------------------------------------------------------- helpers
def day_of_year(dates: object, n_images: int | None = None) -> Tensor:
    """Days of the year (0 = 1 January) of acquisition dates, as indices into the date table.

    Args:
        dates: one ISO date string (``"2021-06-15"``, a time part is ignored), a list of ``B`` strings, a list
            of ``B`` lists of ``T`` strings, or integer days of the year already (tensor ``[B]`` / ``[B, T]``).
        n_images: ``B``, to broadcast a single date to the batch.

    Returns:
        ``[B]`` or ``[B, T]`` int64 in ``[0, 365]``.

    Raises:
        ValueError: on a string that is not an ISO date, or a day outside ``[0, 365]``.
    """

    def one(s: object) -> int:
        if isinstance(s, (_dt.date, _dt.datetime)):
            return s.timetuple().tm_yday - 1
        try:
            return _dt.date.fromisoformat(str(s)[:10]).timetuple().tm_yday - 1
        except ValueError as err:
            raise ValueError(f"date: expected ISO dates like '2021-06-15', got {s!r}") from err

    if isinstance(dates, Tensor):
        out = dates.long()
    elif isinstance(dates, (str, _dt.date)):
        out = torch.tensor([one(dates)] * (n_images or 1))
    else:
        rows = list(dates)
        nested = [[one(d) for d in r] if isinstance(r, (list, tuple)) else one(r) for r in rows]
        out = torch.tensor(nested, dtype=torch.long)
    if out.numel() and (out.min() < 0 or out.max() >= DAYS_IN_YEAR):
        raise ValueError(f"date: days of the year must lie in [0, {DAYS_IN_YEAR - 1}], got {out.tolist()}")
    return out


def geo_region(lat: Tensor, lon: Tensor, grid: tuple[int, int]) -> Tensor:
    """Region index of each location on a regular lat/lon grid (row-major, from the south-west corner).

    Args:
        lat: latitudes ``[B]`` in degrees (clamped to ``[-90, 90]``).
        lon: longitudes ``[B]`` in degrees (wrapped to ``[-180, 180)``).
        grid: ``(latitude bands, longitude bands)``.

    Returns:
        ``[B]`` int64 in ``[0, bands_lat * bands_lon)``.
    """
    n_lat, n_lon = grid
    lat = torch.as_tensor(lat, dtype=torch.float64).reshape(-1).clamp(-90.0, 90.0)
    lon = (torch.as_tensor(lon, dtype=torch.float64).reshape(-1) + 180.0) % 360.0 - 180.0
    i = ((lat + 90.0) / 180.0 * n_lat).floor().long().clamp(0, n_lat - 1)
    j = ((lon + 180.0) / 360.0 * n_lon).floor().long().clamp(0, n_lon - 1)
    return i * n_lon + j


def dihedral(x: Tensor, k: int) -> Tensor:
    """One of the 8 flips/rotations of the square: flip the columns if ``k >= 4``, then rotate ``k % 4`` times.

    Args:
        x: ``[..., H, W]``.
        k: transform index in ``0..7``.

    Returns:
        The transformed tensor ``[..., H, W]`` (``[..., W, H]`` for odd rotations of non-square input).
    """
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def dihedral_inverse(x: Tensor, k: int) -> Tensor:
    """Undo :func:`dihedral` with the same ``k``: ``dihedral_inverse(dihedral(x, k), k) == x``."""
    x = torch.rot90(x, -(k % 4), dims=(-2, -1))
    return x.flip(-1) if k >= 4 else x


def _per_image(fn, x: Tensor, ks: Tensor) -> Tensor:
    # each image gets its own transform; images are few, so a loop is clearer than gathering indices
    return torch.stack([fn(xi, int(k)) for xi, k in zip(x, ks)])


def _projector(dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, out_dim))


def _frames(x: Tensor) -> Tensor:
    # [B, C, H, W] is a single date: give it a time axis, [B, 1, C, H, W]
    return x.unsqueeze(1) if x.ndim == 4 else x


# ----------------------------------------------------------------------------------------------- network
class SkySenseNet(nn.Module):
    """The part of SkySense that the EMA teacher copies.

    Spatial encoders, modality embeddings, the date table, the fusion transformer, the geo-context projection
    and the contrastive projection heads.

    Args:
        config: the model configuration.
    """

    def __init__(self, config: SkySenseConfig) -> None:
        super().__init__()
        d = config.embed_dim
        self.use_geo_context = config.geo_context
        self.encoders = nn.ModuleDict(
            {name: self._encoder(ch, config) for name, ch in (("s1", S1_CHANNELS), ("s2", S2_CHANNELS))}
        )
        self.modality_embed = nn.ParameterDict(
            {"s1": nn.Parameter(torch.zeros(1, 1, d)), "s2": nn.Parameter(torch.zeros(1, 1, d))}
        )
        self.date_embed = nn.Parameter(torch.zeros(DAYS_IN_YEAR, d))  # P_DTPE, one row per day of the year
        self.extra_token = nn.Parameter(torch.zeros(1, 1, d))  # F_e
        self.fusion = nn.ModuleList(
            Block(d, config.num_heads, config.mlp_ratio) for _ in range(config.fusion_depth)
        )
        self.fusion_norm = nn.LayerNorm(d)
        self.geo_proj = nn.Linear(2 * d, d)
        self.projectors = nn.ModuleDict({k: _projector(d, config.proj_dim) for k in ("s1", "s2", "joint")})
        self.apply(init_weights)
        for p in [*self.modality_embed.values(), self.date_embed, self.extra_token]:
            nn.init.trunc_normal_(p, std=0.02)

    @staticmethod
    def _encoder(in_chans: int, c: SkySenseConfig) -> ViTEncoder:
        # the spatial encoder g_i: the shared ViT with fixed sin-cos positions
        return ViTEncoder(in_chans, c.patch_size, c.embed_dim, c.depth, c.num_heads, c.mlp_ratio)

    def spatial(self, name: str, x: Tensor) -> Tensor:
        """Encode every date of one modality.

        Args:
            name: ``"s1"`` or ``"s2"``.
            x: standardised frames ``[B, T, C, H, W]``.

        Returns:
            ``[B, T, D, h, w]``.
        """
        b, t = x.shape[:2]
        maps = self.encoders[name].feature_map(x.flatten(0, 1))  # [B*T, D, h, w]
        return maps.reshape(b, t, *maps.shape[1:])

    def fuse(self, maps: dict[str, Tensor], doy: dict[str, Tensor | None]) -> Tensor:
        """Per-pixel fusion of all dates and modalities into ``F^mm_fus``.

        Args:
            maps: ``{"s1": [B, T1, D, h, w], "s2": [B, T2, D, h, w]}`` (either may be absent).
            doy: day-of-year indices ``[B, T_i]`` per modality, or None for no date encoding.

        Returns:
            ``[B, N, D]`` with ``N = h * w``.
        """
        seqs = []
        for name, m in maps.items():
            b, t, d, h, w = m.shape
            tok = m.permute(0, 3, 4, 1, 2).reshape(b * h * w, t, d)  # [B*N, T, D], one sequence per pixel
            tok = tok + self.modality_embed[name]
            if doy.get(name) is not None:
                date = self.date_embed[doy[name].to(m.device)]  # [B, T, D]
                tok = tok + date.repeat_interleave(h * w, dim=0)
            seqs.append(tok)
        x = torch.cat([self.extra_token.expand(seqs[0].shape[0], -1, -1), *seqs], dim=1)
        for blk in self.fusion:
            x = blk(x)
        return self.fusion_norm(x[:, 0]).reshape(b, h * w, d)

    def geo_context(self, mm: Tensor, prototypes: Tensor) -> Tensor:
        """Extend fused features with attention over geo-context prototypes.

        Args:
            mm: ``F^mm_fus [B, N, D]``.
            prototypes: each image's prototypes ``[B, K, D]``.

        Returns:
            ``F_fus = W Concat[F^mm, softmax(F^mm P^T / sqrt(D)) P]``, ``[B, N, D]``.
        """
        prototypes = prototypes.to(mm.dtype)  # the buffer is float32; under autocast mm may be bf16
        ctx = F.scaled_dot_product_attention(
            mm.unsqueeze(1), prototypes.unsqueeze(1), prototypes.unsqueeze(1)
        )
        return self.geo_proj(torch.cat([mm, ctx.squeeze(1)], dim=-1))

    def forward(
        self, x: dict[str, Tensor], doy: dict[str, Tensor | None], prototypes: Tensor | None
    ) -> dict[str, Tensor]:
        """Encode standardised frames.

        Args:
            x: ``{"s1": [B, T1, 2, H, W], "s2": [B, T2, 12, H, W]}`` (one or both).
            doy: day-of-year indices per modality (``[B, T_i]``) or None.
            prototypes: ``[B, K, D]`` geo-context prototypes per image (needed for ``joint``).

        Returns:
            ``s1``/``s2`` maps ``[B, T_i, D, h, w]``; with both modalities also ``mm [B, N, D]`` and
            ``joint [B, N, D]`` (``F_fus``).
        """
        out = {name: self.spatial(name, v) for name, v in x.items()}
        if len(out) == 2 and prototypes is not None:
            out["mm"] = self.fuse(out, doy)
            out["joint"] = self.geo_context(out["mm"], prototypes) if self.use_geo_context else out["mm"]
        return out


# ------------------------------------------------------------------------------------------------- model
class SkySense(nn.Module):
    """SkySense-style radar-optical model: multi-granularity contrastive pretraining with geo-context.

    Args:
        config: a :class:`SkySenseConfig` (default: the ``tiny`` preset).

    Example:
        >>> model = SkySense(PRESETS["tiny"])
        >>> out = model({"s1": s1, "s2": s2, "lat": lat, "lon": lon, "date": dates})
        >>> out["loss"].backward()            # then an optimiser step; the teacher follows by EMA
        >>> model.embed(s1=s1, s2=s2, lat=lat, lon=lon)  # {"s1": [B, 64], "s2": [B, 64], "joint": [B, 64]}
    """

    name = "skysense"

    def __init__(self, config: SkySenseConfig | None = None) -> None:
        super().__init__()
        self.config = c = replace(config) if config is not None else SkySenseConfig()
        if not 0.0 <= c.ema_momentum < 1.0 or not 0.0 <= c.prototype_momentum < 1.0:
            raise ValueError("ema_momentum and prototype_momentum must lie in [0, 1)")
        levels = tuple(c.granularities)
        if not levels or set(levels) - set(GRANULARITIES) or len(set(levels)) != len(levels):
            raise ValueError(
                f"granularities must be a non-empty subset of {GRANULARITIES} without repeats, got {levels}"
            )
        if (c.img_size // c.patch_size) ** 2 < c.n_clusters:
            raise ValueError(
                f"n_clusters={c.n_clusters} exceeds the {(c.img_size // c.patch_size) ** 2} feature pixels"
            )
        self.norm_s1 = s1_norm()
        self.norm_s2 = s2_norm()
        self.student = SkySenseNet(c)
        self.teacher = copy.deepcopy(self.student)
        self.teacher.requires_grad_(False)
        n_regions = c.region_grid[0] * c.region_grid[1]
        # layer-normalised features have unit variance per channel: start the prototypes at that scale
        self.register_buffer("prototypes", torch.randn(n_regions, c.n_prototypes, c.embed_dim))

    # ------------------------------------------------------------------ inputs
    def _inputs(self, s1: Tensor | None, s2: Tensor | None) -> dict[str, Tensor]:
        if s1 is None and s2 is None:
            raise ValueError("pass at least one of s1=[B, 2, H, W] (dB) or s2=[B, 12, H, W] (reflectance)")
        out = {}
        for name, x, ch, norm in (
            ("s1", s1, S1_CHANNELS, self.norm_s1),
            ("s2", s2, S2_CHANNELS, self.norm_s2),
        ):
            if x is None:
                continue
            fr = _frames(model_input(x, ch, self.config.patch_size, name, time_series=True))
            out[name] = norm(fr.flatten(0, 1)).reshape(fr.shape)
        if len(out) == 2:
            a, b = out["s1"], out["s2"]
            if a.shape[0] != b.shape[0] or a.shape[-2:] != b.shape[-2:]:
                raise ValueError(
                    f"s1 and s2 must be co-registered tiles of one size and count, got {tuple(a.shape)}, {tuple(b.shape)}"
                )
        return out

    def _doy(self, x: dict[str, Tensor], date: object) -> dict[str, Tensor | None]:
        if date is None:
            return {k: None for k in x}
        out = {}
        for name, v in x.items():
            b, t = v.shape[:2]
            d = day_of_year(date, b)
            d = d.reshape(b, 1).expand(b, t) if d.ndim == 1 else d
            if d.shape != (b, t):
                raise ValueError(
                    f"date: expected {b} dates or {b} lists of {t} dates for {name}, got shape {tuple(d.shape)}"
                )
            out[name] = d
        return out

    def regions(self, lat: object, lon: object) -> Tensor:
        """Region index ``[B]`` of each tile (see :func:`geo_region`)."""
        return geo_region(torch.as_tensor(lat), torch.as_tensor(lon), self.config.region_grid)

    def _prototypes_for(self, n_images: int, lat: object, lon: object) -> Tensor:
        if lat is None or lon is None:
            # unknown location: consult the prototypes of every region
            return self.prototypes.flatten(0, 1).unsqueeze(0).expand(n_images, -1, -1)
        return self.prototypes[self.regions(lat, lon).to(self.prototypes.device)]

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def _encode(self, s1, s2, date, lat, lon) -> dict[str, Tensor]:
        x = self._inputs(s1, s2)
        n = next(iter(x.values())).shape[0]
        return self.student(x, self._doy(x, date), self._prototypes_for(n, lat, lon))

    def features(
        self,
        s1: Tensor | None = None,
        s2: Tensor | None = None,
        gsd: Tensor | float | None = None,
        date: object = None,
        lat: object = None,
        lon: object = None,
    ) -> dict[str, Tensor]:
        """Feature maps of the student (dates averaged).

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB, or a time series ``[B, T, 2, H, W]``.
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance, or ``[B, T, 12, H, W]``.
            gsd: ignored; accepted for a uniform interface.
            date: acquisition dates (see :func:`day_of_year`); without them no date encoding is added.
            lat: latitudes ``[B]``; with ``lon`` they select the geo-context region (without: all regions).
            lon: longitudes ``[B]``.

        Returns:
            ``{"s1": [B, D, h, w], "s2": ..., "joint": ...}`` for the modalities that apply.
        """
        enc = self._encode(s1, s2, date, lat, lon)
        out = {k: enc[k].mean(dim=1) for k in ("s1", "s2") if k in enc}
        if "joint" in enc:
            h, w = out["s1"].shape[-2:]
            out["joint"] = tokens_to_map(enc["joint"], (h, w))
        return out

    def embed(
        self,
        s1: Tensor | None = None,
        s2: Tensor | None = None,
        gsd: Tensor | float | None = None,
        date: object = None,
        lat: object = None,
        lon: object = None,
    ) -> dict[str, Tensor]:
        """One vector per tile: the average-pooled feature maps (the image-level features).

        Args:
            s1: Sentinel-1 ``[B, 2, H, W]`` dB, or a time series ``[B, T, 2, H, W]``.
            s2: Sentinel-2 ``[B, 12, H, W]`` reflectance, or ``[B, T, 12, H, W]``.
            gsd: ignored; accepted for a uniform interface.
            date: acquisition dates (see :func:`day_of_year`).
            lat: latitudes ``[B]`` (with ``lon``: the geo-context region).
            lon: longitudes ``[B]``.

        Returns:
            ``{"s1": [B, D], "s2": [B, D], "joint": [B, D]}`` for the modalities that apply.
        """
        return {k: v.mean(dim=(-2, -1)) for k, v in self.features(s1, s2, gsd, date, lat, lon).items()}

    # ----------------------------------------------------------------- training
    @torch.no_grad()
    def update_teacher(self, momentum: float | None = None) -> None:
        """EMA step of the teacher: ``theta' <- m theta' + (1 - m) theta`` for every parameter.

        Args:
            momentum: ``m`` (default: ``config.ema_momentum``).
        """
        m = self.config.ema_momentum if momentum is None else momentum
        for pt, ps in zip(self.teacher.parameters(), self.student.parameters()):
            pt.mul_(m).add_(ps.detach(), alpha=1.0 - m)

    @torch.no_grad()
    def assign_prototypes(self, features: Tensor, region: int) -> Tensor:
        """Sinkhorn assignment ``S`` of fused features to one region's prototypes, by cosine similarity.

        Args:
            features: ``F^mm_fus`` of the region's pixels ``[n, D]``.
            region: region index.

        Returns:
            ``S [n, K]``: the Sinkhorn plan with each column rescaled to sum to 1, so that ``S^T F`` are weighted
            means of features (the balance between prototypes comes from Sinkhorn, the scale from the rescaling).
        """
        c = self.config
        sim = F.normalize(features.float(), dim=-1) @ F.normalize(self.prototypes[region], dim=-1).t()
        plan = sinkhorn(sim, c.sinkhorn_eps, c.sinkhorn_iters)
        return plan / plan.sum(dim=0, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def update_prototypes(self, features: Tensor, regions: Tensor, momentum: float | None = None) -> None:
        """EMA update of the prototypes of every region present: ``P_r <- m P_r + (1 - m) S^T F``.

        Args:
            features: ``F^mm_fus [B, N, D]``.
            regions: region of each image ``[B]``.
            momentum: ``m`` (default: ``config.prototype_momentum``).
        """
        m = self.config.prototype_momentum if momentum is None else momentum
        regions = regions.to(features.device)
        for r in regions.unique().tolist():
            f = features[regions == r].flatten(0, 1).float()  # [n, D], all pixels of the region's images
            s = self.assign_prototypes(f, r)
            self.prototypes[r] = m * self.prototypes[r] + (1.0 - m) * (s.t() @ f)

    def _augment(self, x: dict[str, Tensor], ks: Tensor) -> dict[str, Tensor]:
        # one flip/rotation per image shared by both modalities and all dates (co-registration is kept);
        # radiometric jitter drawn per image and band
        j = self.config.aug_jitter
        out = {}
        for name, v in x.items():
            v = _per_image(dihedral, v, ks)
            b, t, ch = v.shape[:3]
            gain = 1.0 + j * torch.randn(b, t, ch, 1, 1, device=v.device)
            offset = j * torch.randn(b, t, ch, 1, 1, device=v.device)
            out[name] = v * gain + offset + 0.5 * j * torch.randn_like(v)
        return out

    def _contrast(self, z: Tensor, z_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Pixel, object and image InfoNCE between student and teacher projections ``[B, T, N, P]``."""
        c = self.config
        scale = 1.0 / c.temperature
        pix, obj, img = [], [], []
        for t in range(z.shape[1]):
            a, b = z[:, t], z_t[:, t]  # [B, N, P]
            fa, fb = a.flatten(0, 1), b.flatten(0, 1)
            if 0 < c.pixel_samples < fa.shape[0]:
                idx = torch.randperm(fa.shape[0], device=fa.device)[: c.pixel_samples]
                fa, fb = fa[idx], fb[idx]
            pix.append(info_nce(F.normalize(fa, dim=-1), F.normalize(fb, dim=-1), scale)[0])
            # objects: the teacher's pixels grouped by balanced k-means; the same groups pooled in both views
            assign, _ = sinkhorn_kmeans(b, c.n_clusters, eps=c.sinkhorn_eps, n_iters=c.sinkhorn_iters)
            weights = assign / assign.sum(dim=1, keepdim=True).clamp_min(1e-6)  # [B, N, K], columns sum to 1
            oa = (weights.transpose(1, 2) @ a).flatten(0, 1)  # [B*K, P]
            ob = (weights.transpose(1, 2) @ b).flatten(0, 1)
            obj.append(info_nce(F.normalize(oa, dim=-1), F.normalize(ob, dim=-1), scale)[0])
            img.append(info_nce(F.normalize(a.mean(1), dim=-1), F.normalize(b.mean(1), dim=-1), scale)[0])
        return torch.stack(pix).mean(), torch.stack(obj).mean(), torch.stack(img).mean()

    def _aligned_tokens(self, enc: dict[str, Tensor], ks: Tensor, net: SkySenseNet) -> dict[str, Tensor]:
        # undo each view's flip/rotation on the feature maps, then project: token s is the same ground in both
        out = {}
        for name in ("s1", "s2"):
            m = _per_image(dihedral_inverse, enc[name], ks)  # [B, T, D, h, w]
            tok = m.flatten(-2).transpose(-1, -2)  # [B, T, N, D]
            out[name] = net.projectors[name](tok)
        h, w = enc["s1"].shape[-2:]
        joint = _per_image(dihedral_inverse, tokens_to_map(enc["joint"], (h, w)), ks)
        out["joint"] = net.projectors["joint"](joint.flatten(-2).transpose(-1, -2)).unsqueeze(
            1
        )  # [B, 1, N, P]
        return out

    def forward(self, batch: dict) -> dict[str, Tensor]:
        """Pretraining step: two views, student vs. EMA teacher at three granularities, prototype update.

        Args:
            batch: the pair batch: ``s1 [B, 2, H, W]`` dB and ``s2 [B, 12, H, W]`` reflectance (or time series
                ``[B, T, C, H, W]``); optional ``date`` (see :func:`day_of_year`), ``lat`` and ``lon`` ``[B]``.

        Returns:
            ``loss`` (``L_MGCL + align_weight * L_align``), ``loss_s1``, ``loss_s2``, ``loss_joint`` (``L_FGCL``
            of each stream, over the configured ``granularities``), ``loss_pixel``, ``loss_object``,
            ``loss_image`` (each granularity summed over the streams, reported even when it does not train), ``loss_mgcl`` (``L_MGCL``), ``loss_align`` (``L_align``, radar vs optical),
            ``region [B]`` (-1 without a location) and ``joint [B, N, D]`` (the student's fused features).
        """
        s1, s2 = batch_item(batch, "s1", self.name), batch_item(batch, "s2", self.name)
        x = self._inputs(s1, s2)
        doy = self._doy(x, batch.get("date"))
        b = x["s1"].shape[0]
        lat, lon = batch.get("lat"), batch.get("lon")
        protos = self._prototypes_for(b, lat, lon)
        if self.training:
            self.update_teacher()

        ks_u = torch.randint(0, 8, (b,))
        ks_v = torch.randint(0, 8, (b,))
        enc_s = self.student(self._augment(x, ks_u), doy, protos)
        with torch.no_grad():
            enc_t = self.teacher(self._augment(x, ks_v), doy, protos)
        z_s = self._aligned_tokens(enc_s, ks_u, self.student)
        z_t = {k: v.detach() for k, v in self._aligned_tokens(enc_t, ks_v, self.teacher).items()}

        out: dict[str, Tensor] = {}
        per_level = dict.fromkeys(GRANULARITIES, 0.0)
        used = self.config.granularities
        total = 0.0
        for stream in ("s1", "s2", "joint"):
            terms = dict(zip(GRANULARITIES, self._contrast(z_s[stream], z_t[stream])))
            stream_loss = sum(v for level, v in terms.items() if level in used)
            out[f"loss_{stream}"] = stream_loss.detach()
            for level, value in terms.items():
                per_level[level] = per_level[level] + value.detach()
            total = total + stream_loss
        out.update({f"loss_{k}": v for k, v in per_level.items()})
        out["loss_mgcl"] = total.detach()
        # cross-modal alignment: the same tile's radar and optical image-level features (dates averaged) agree
        img_s1, img_s2 = z_s["s1"].mean(dim=(1, 2)), z_s["s2"].mean(dim=(1, 2))  # [B, P]
        align, _ = info_nce(
            F.normalize(img_s1, dim=-1), F.normalize(img_s2, dim=-1), 1.0 / self.config.temperature
        )
        out["loss_align"] = align.detach()
        if self.config.align_weight:
            total = total + self.config.align_weight * align

        if lat is not None and lon is not None:
            region = self.regions(lat, lon)
            if self.training and self.config.geo_context:
                self.update_prototypes(enc_s["mm"].detach(), region)
        else:
            region = torch.full((b,), -1, dtype=torch.long)
        out.update({"loss": total, "region": region, "joint": enc_s["joint"]})
        return out


__all__ = [
    "DAYS_IN_YEAR",
    "GRANULARITIES",
    "PRESETS",
    "SkySense",
    "SkySenseConfig",
    "SkySenseNet",
    "day_of_year",
    "dihedral",
    "dihedral_inverse",
    "geo_region",
]
