"""The historical import path of the shared building blocks; each now lives in the module of its concept.

``blocks`` (patch embedding, attention, ViT block, ``ViTEncoder``, ``MAEDecoder``, initialisation),
``positions`` (sin-cos, GSD sin-cos, ALiBi), ``losses`` (InfoNCE, logit scale, masked reconstruction),
``masking`` (random masking, patch folding), ``input_norm`` and ``validation``. Import from those in new
code; this module keeps ``from xmodal_lab.models.layers import ...`` in notebooks and older code working.
"""

from __future__ import annotations

from .blocks import Attention, Block, MAEDecoder, Mlp, PatchEmbed, ViTEncoder, init_weights
from .input_norm import InputNorm
from .losses import MAX_LOGIT_SCALE, LogitScale, info_nce, masked_mean, norm_pix_target
from .masking import gather_tokens, patchify, random_masking, tokens_to_map, unpatchify
from .positions import (
    alibi_2d_bias,
    alibi_slopes,
    gsd_sincos_pos_embed,
    masked_alibi,
    patch_distances,
    sincos_1d,
    sincos_2d_from_grid,
    sincos_2d_pos_embed,
    sincos_table,
)
from .validation import batch_item, check_image, model_input

__all__ = [
    "Attention",
    "Block",
    "batch_item",
    "InputNorm",
    "LogitScale",
    "MAEDecoder",
    "MAX_LOGIT_SCALE",
    "Mlp",
    "PatchEmbed",
    "ViTEncoder",
    "alibi_2d_bias",
    "alibi_slopes",
    "check_image",
    "gather_tokens",
    "gsd_sincos_pos_embed",
    "info_nce",
    "init_weights",
    "masked_alibi",
    "masked_mean",
    "model_input",
    "norm_pix_target",
    "patch_distances",
    "patchify",
    "random_masking",
    "sincos_1d",
    "sincos_2d_from_grid",
    "sincos_2d_pos_embed",
    "sincos_table",
    "tokens_to_map",
    "unpatchify",
]
