"""Each exercise's check catches the mistakes students typically make, and accepts the lesson's solution.

The check statement (``answer = xl.lesson.check_exercise(...)``) is read from the notebook's check cell and run
on small inputs defined here (a name defined below replaces the notebook's assignment of it; the cell's
functions and other assignments run as written). The lesson's solution cell must pass the check, and every
typical wrong answer must fail it: a check whose cases cannot tell them apart would wave a wrong answer through.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
from lesson_cells import callee, cells, code_tree, source, tagged

ROOT = Path(__file__).resolve().parents[2] / "notebooks"

_WORLD = "world = xl.data.SimulatedWorld(seed=0, size=32, n_scenes=6)\n"
_EMB = """
g0 = torch.Generator().manual_seed(1)
emb = {m: F.normalize(torch.randn(8, 16, generator=g0), dim=1) for m in ("s1", "s2")}
temperature = 0.07
g = torch.Generator().manual_seed(SEED)
"""

_PAIR = "pair = " + _WORLD.split("= ", 1)[1].strip() + "[0]\n"
#: Embeddings of 4 land-cover classes; radar shares part of the optical space, so every probe scores differently.
_PROBE = """
rng = np.random.default_rng(0)
centres = {'s2': rng.normal(size=(4, 6)), 's1': rng.normal(size=(4, 6))}
centres['s1'] = 0.7 * centres['s2'] + 0.7 * centres['s1']
def embeddings(n):
    y = np.arange(n) % 4
    return {'dominant_class': y, **{m: c[y] + 1.2 * rng.normal(size=(n, 6)) for m, c in centres.items()}}
emb_train, emb_test = embeddings(80), embeddings(40)
"""
#: A 4 x 5 tile grid with two empty cells, water tiles alike in both modalities, and the lesson's cosine.
_TILES = """
from xmodal_lab.eval.embed_raster import grid_transform
g0 = np.random.default_rng(0)
TILE, THRESHOLD, THRESHOLD_CROSS = 32, 0.5, 0.25
TRANSFORM = rasterio.Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4200000.0)
cells = np.array([(r, c) for r in range(4) for c in range(5)])[1:-1]
water = np.arange(len(cells)) % 3 == 0
w = g0.normal(size=8)
vectors = {m: g0.normal(size=(len(cells), 8)) + 1.5 * water[:, None] * w for m in ('s1', 's2')}
tiles = xl.eval.TileEmbeddings(vectors, cells, cells * TILE, (4, 5), grid_transform(TRANSFORM, TILE, TILE),
                               tuple(TRANSFORM)[:6], (4 * TILE, 5 * TILE), 'EPSG:32633', TILE, TILE)
click_tile = 3
def cosine_to_query(query_vec, gallery):
    return gallery @ (query_vec / np.linalg.norm(query_vec)) / np.linalg.norm(gallery, axis=1)
"""

#: The lesson's solutions, rewritten below one edit at a time into typical mistakes.
_GSD = """def my_gsd_encoding(embed_dim, grid, res):
    d = embed_dim // 2
    omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2))
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                                indexing="ij")
    def code_1d(p):
        angle = (res * p.reshape(-1))[:, None] * omega[None, :]
        return torch.cat([angle.sin(), angle.cos()], dim=1)
    return torch.cat([code_1d(cols), code_1d(rows)], dim=1).float()
"""
_HIGH_BAND = """def my_high_band(img, dim1=7):
    thumb = F.interpolate(img, size=(dim1, dim1), mode="area")
    return img - F.interpolate(thumb, size=img.shape[-2:], mode="bilinear", align_corners=False)
"""
_ACCURACY = """def cross_modal_accuracy(emb_train, emb_test, source="s2", target="s1"):
    return xl.eval.linear_probe(emb_train[source], emb_train["dominant_class"],
                                emb_test[target], emb_test["dominant_class"])["accuracy"]
"""
_SELECTION = """def water_selection(model_tiles, query="s2", gallery="s2", threshold=THRESHOLD):
    sim = cosine_to_query(model_tiles.vectors[query][click_tile], model_tiles.vectors[gallery])
    return np.nan_to_num(model_tiles.to_grid(sim), nan=-np.inf) >= threshold
"""
_AREA = """def selection_area_km2(selected, tile_px, pixel_m):
    return float(np.sum(selected)) * (tile_px * pixel_m) ** 2 / 1e6
"""
_CURVES = """def efficiency_curves(emb_train, emb_test, fractions=(0.01, 0.05, 0.1, 1.0)):
    return {m: xl.eval.label_efficiency(emb_train[m], emb_train["dominant_class"], emb_test[m],
                                        emb_test["dominant_class"], fractions=fractions, seed=SEED)
            for m in ("s1", "s2")}
"""
_TRANSFER = """def transfer(emb_train, emb_test):
    return xl.eval.cross_modal_transfer(emb_train, emb_test, source="s2", target="s1")
"""
_SPECKLE = """def speckle_autocorrelation(vv_db, lag):
    from scipy.ndimage import uniform_filter
    lin = 10 ** (np.asarray(vv_db, dtype=np.float64) / 10)
    ratio = lin / uniform_filter(lin, 15)
    z = ratio - ratio.mean()
    return float((z[lag:] * z[:-lag]).mean() / (z * z).mean())
"""
_STANDARDISED = """def standardised_vv(s1, norm):
    z = (s1 - norm.mean) / norm.std
    return float(z[:, 0].mean()), float(z[:, 0].std())
"""


def _edit(solution: str, *changes: tuple[str, str]) -> str:
    """``solution`` with each ``(old, new)`` replaced; an ``old`` that is not there is a bug of this test."""
    for old, new in changes:
        assert old in solution, f"{old!r} is not in {solution!r}"
        solution = solution.replace(old, new)
    return solution


#: (notebook, exercise): (setup code, {mistake: wrong function}). Each wrong function has the exercise's name.
MISTAKES = {
    ("00_welcome.ipynb", "db_to_linear"): (
        _PAIR,
        {
            "forgets to divide by 10": "def db_to_linear(db):\n    return 10 ** db",
            "amplitude, not power": "def db_to_linear(db):\n    return 10 ** (db / 20)",
            "natural exponent": "def db_to_linear(db):\n    return torch.exp(db / 10)",
        },
    ),
    ("00_welcome.ipynb", "water_fraction"): (
        _WORLD + "N_TOUR = 4\n",
        {
            "counts instead of a fraction": "def water_fraction(pair):\n"
            "    return float((pair['landcover'] == xl.data.LANDCOVER_CLASSES.index('water')).sum())",
            "the wrong class id": "def water_fraction(pair):\n"
            "    return float((pair['landcover'] == xl.data.LANDCOVER_CLASSES.index('water') + 1).float().mean())",
        },
    ),
    ("00_welcome.ipynb", "count_and_size"): (
        _WORLD,
        {
            "channels, not pixels": "def count_and_size(world):\n    return len(world), world[0]['s2'].shape[0]",
            "keys of a pair, not places": "def count_and_size(world):\n    return len(world[0]), world[0]['s2'].shape[-1]",
            "pixels of a tile, not across": "def count_and_size(world):\n    return len(world), world[0]['s2'][0].numel()",
            "last index, not count": "def count_and_size(world):\n    return len(world) - 1, world[0]['s2'].shape[-1]",
        },
    ),
    ("01_sar_and_optical.ipynb", "speckle_cv"): (
        _WORLD,
        {
            "stays in dB": "def speckle_cv(pair):\n    lc = pair['landcover']\n"
            "    v = pair['s1'][0][lc == torch.bincount(lc.flatten()).argmax()]\n    return float(v.std() / v.mean())",
            "every pixel, not one class": "def speckle_cv(pair):\n    v = 10 ** (pair['s1'][0] / 10)\n"
            "    return float(v.std() / v.mean())",
            "VH, not VV": "def speckle_cv(pair):\n    lc = pair['landcover']\n"
            "    v = 10 ** (pair['s1'][1][lc == torch.bincount(lc.flatten()).argmax()] / 10)\n"
            "    return float(v.std() / v.mean())",
        },
    ),
    ("01_sar_and_optical.ipynb", "ndwi"): (
        _WORLD + "batch = xl.data.collate_pairs([world[i] for i in range(3)])\n",
        {
            "bands swapped": "def ndwi(s2):\n    g, n = s2[..., 2, :, :], s2[..., 7, :, :]\n    return (n - g) / (g + n + 1e-6)",
            "NDVI's red band": "def ndwi(s2):\n    g, n = s2[..., 3, :, :], s2[..., 7, :, :]\n    return (g - n) / (g + n + 1e-6)",
            "1-based band numbers": "def ndwi(s2):\n    g, n = s2[..., 3, :, :], s2[..., 8, :, :]\n    return (g - n) / (g + n + 1e-6)",
        },
    ),
    ("02_contrastive_sar_optical.ipynb", "cosine_similarity"): (
        _EMB,
        {
            "forgets to normalise": "def cosine_similarity(a, b):\n    return torch.as_tensor(a) @ torch.as_tensor(b).T",
            "normalises the wrong axis": "def cosine_similarity(a, b):\n"
            "    return F.normalize(torch.as_tensor(a), dim=0) @ F.normalize(torch.as_tensor(b), dim=0).T",
        },
    ),
    ("02_contrastive_sar_optical.ipynb", "info_nce"): (
        _EMB,
        {
            "one direction only": "def info_nce(z1, z2, temperature=0.07):\n"
            "    return F.cross_entropy(z1 @ z2.T / temperature, torch.arange(len(z1)))",
            "no temperature": "def info_nce(z1, z2, temperature=0.07):\n    logits = z1 @ z2.T\n"
            "    t = torch.arange(len(z1))\n    return 0.5 * (F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t))",
            "sums instead of averaging": "def info_nce(z1, z2, temperature=0.07):\n    logits = z1 @ z2.T / temperature\n"
            "    t = torch.arange(len(z1))\n    return F.cross_entropy(logits, t) + F.cross_entropy(logits.T, t)",
        },
    ),
    ("02_contrastive_sar_optical.ipynb", "recall_at_k"): (
        _EMB + "after = {'s1': torch.randn(40, 8, generator=g0) * torch.rand(40, 1, generator=g0) * 5,\n"
        "         's2': torch.randn(40, 8, generator=g0)}\nafter['s2'] = after['s2'] + after['s1']\n"
        "def cosine_similarity(a, b):\n    return F.normalize(torch.as_tensor(a), dim=1) @ F.normalize(torch.as_tensor(b), dim=1).T\n",
        {
            "least similar": "def recall_at_k(query, gallery, k):\n"
            "    top = cosine_similarity(query, gallery).topk(k, dim=1, largest=False).indices\n"
            "    return float((top == torch.arange(len(top))[:, None]).any(dim=1).float().mean())",
            "dot products of raw vectors": "def recall_at_k(query, gallery, k):\n"
            "    top = (query @ gallery.T).topk(k, dim=1).indices\n"
            "    return float((top == torch.arange(len(top))[:, None]).any(dim=1).float().mean())",
            "top-k down the columns": "def recall_at_k(query, gallery, k):\n"
            "    top = cosine_similarity(query, gallery).topk(k, dim=0).indices.T\n"
            "    return float((top == torch.arange(len(top))[:, None]).any(dim=1).float().mean())",
        },
    ),
    ("03_scale_mae.ipynb", "gsd_encoding"): (
        "",
        {
            "forgets res": _edit(_GSD, ("(res * p.reshape(-1))", "p.reshape(-1)")),
            "divides by res": _edit(_GSD, ("(res * p.reshape(-1))", "(p.reshape(-1) / res)")),
            "rows before columns": _edit(
                _GSD, ("[code_1d(cols), code_1d(rows)]", "[code_1d(rows), code_1d(cols)]")
            ),
            "cosines before sines": _edit(_GSD, ("[angle.sin(), angle.cos()]", "[angle.cos(), angle.sin()]")),
            "exponent over d, not d / 2": _edit(_GSD, ("/ (d / 2))", "/ d)")),
        },
    ),
    ("03_scale_mae.ipynb", "high_band"): (
        _PAIR,
        {
            "the low band": _edit(_HIGH_BAND, ("return img - F", "return F")),
            "thumbnail minus image": _edit(_HIGH_BAND, ("return img - F", "return -img + F")),
            "nearest upsampling": _edit(
                _HIGH_BAND, ('mode="bilinear", align_corners=False', 'mode="nearest"')
            ),
            "align_corners=True": _edit(_HIGH_BAND, ("align_corners=False", "align_corners=True")),
            "bilinear thumbnail": _edit(_HIGH_BAND, ('mode="area"', 'mode="bilinear", align_corners=False')),
            "always 7 x 7": _edit(_HIGH_BAND, ("size=(dim1, dim1)", "size=(7, 7)")),
        },
    ),
    ("04_croma.ipynb", "alibi_bias"): (
        "grid = (4, 4)\n",
        {
            "positive bias": "def alibi_bias(slopes, grid):\n    r, c = grid\n    i = torch.arange(r * c)\n"
            "    p = torch.stack([i // c, i % c], 1).float()\n    return slopes[:, None, None] * torch.cdist(p, p)[None]",
            "Manhattan distance": "def alibi_bias(slopes, grid):\n    r, c = grid\n    i = torch.arange(r * c)\n"
            "    p = torch.stack([i // c, i % c], 1).float()\n"
            "    return -slopes[:, None, None] * torch.cdist(p, p, p=1)[None]",
            "column-major patches": "def alibi_bias(slopes, grid):\n    r, c = grid\n    i = torch.arange(r * c)\n"
            "    p = torch.stack([i % r, i // r], 1).float()\n    return -slopes[:, None, None] * torch.cdist(p, p)[None]",
        },
    ),
    ("04_croma.ipynb", "expected_shared"): (
        "",
        {
            "one mask only": "def expected_shared(n, ratio):\n    return n * (1 - ratio)",
            "hidden, not visible": "def expected_shared(n, ratio):\n    return n * ratio ** 2",
            "squares the ratio inside": "def expected_shared(n, ratio):\n    return n * (1 - ratio ** 2)",
        },
    ),
    ("04_croma.ipynb", "cross_modal_accuracy"): (
        _PROBE,
        {
            "scores the source modality": _edit(_ACCURACY, ("emb_test[target]", "emb_test[source]")),
            "fits on the target modality": _edit(_ACCURACY, ("emb_train[source]", "emb_train[target]")),
            "source and target swapped": _edit(
                _ACCURACY,
                ("emb_train[source]", "emb_train[target]"),
                ("emb_test[target]", "emb_test[source]"),
            ),
            "macro F1, not accuracy": _edit(_ACCURACY, ('["accuracy"]', '["macro_f1"]')),
        },
    ),
    ("05_embeddings_on_maps.ipynb", "cosine_to_query"): (
        "g0 = np.random.default_rng(0)\nv = {m: g0.normal(size=(30, 8)) for m in ('s1', 's2')}\n"
        "class Tiles:\n    vectors = {m: x / np.linalg.norm(x, axis=1, keepdims=True) for m, x in v.items()}\n"
        "tiles = Tiles()\nclick_tile = 3\n",
        {
            "forgets to normalise": "def cosine_to_query(query_vec, gallery):\n    return gallery @ query_vec",
            "normalises the query only": "def cosine_to_query(query_vec, gallery):\n"
            "    return gallery @ (query_vec / np.linalg.norm(query_vec))",
            "normalises the gallery as a whole": "def cosine_to_query(query_vec, gallery):\n"
            "    return gallery @ query_vec / np.linalg.norm(gallery) / np.linalg.norm(query_vec)",
        },
    ),
    ("05_embeddings_on_maps.ipynb", "water_selection"): (
        _TILES,
        {
            "the similarities, not the grid": _edit(
                _SELECTION, ("np.nan_to_num(model_tiles.to_grid(sim), nan=-np.inf)", "sim")
            ),
            "the query modality as gallery": _edit(_SELECTION, ("vectors[gallery]", "vectors[query]")),
            "the click in the gallery modality": _edit(_SELECTION, ("vectors[query]", "vectors[gallery]")),
            "always THRESHOLD": _edit(_SELECTION, (">= threshold", ">= THRESHOLD")),
            "keeps the dissimilar tiles": _edit(
                _SELECTION, ("nan=-np.inf) >= threshold", "nan=np.inf) <= threshold")
            ),
        },
    ),
    ("05_embeddings_on_maps.ipynb", "selection_area_km2"): (
        _TILES + "from types import SimpleNamespace\n"
        "explorer = SimpleNamespace(selected=threshold_grid(similarity_grid(tiles, click_tile), THRESHOLD))\n"
        "selection = gpd.GeoDataFrame.from_features(xl.eval.grid_to_polygons(tiles, explorer.selected)['features'],\n"
        "                                           crs=tiles.crs)\n",
        {
            "square metres": _edit(_AREA, (" / 1e6", "")),
            "divides by 1e3": _edit(_AREA, ("1e6", "1e3")),
            "pixels, not metres": _edit(_AREA, ("(tile_px * pixel_m) ** 2", "tile_px**2")),
            "side not squared": _edit(_AREA, ("(tile_px * pixel_m) ** 2", "tile_px * pixel_m")),
            "every cell of the grid": _edit(_AREA, ("np.sum(selected)", "np.size(selected)")),
        },
    ),
    ("06_segment_anything.ipynb", "confidence_map"): (
        "g0 = torch.Generator().manual_seed(0)\nF_T = torch.randn(3, 8, 4, 5, generator=g0)\n"
        "f_ref = torch.randn(8, generator=g0)\n",
        {
            "forgets to normalise": "def confidence_map(features, embedding):\n"
            "    return torch.einsum('bdhw,d->bhw', features, embedding)",
            "normalises over the batch": "def confidence_map(features, embedding):\n"
            "    f = torch.nn.functional.normalize(features, dim=0)\n"
            "    return torch.einsum('bdhw,d->bhw', f, torch.nn.functional.normalize(embedding, dim=0))",
        },
    ),
    ("06_segment_anything.ipynb", "pick_points"): (
        "S = torch.rand(3, 6, 9, generator=torch.Generator().manual_seed(0))\n",
        {
            "(row, column) order": "def pick_points(S):\n    w = S.shape[-1]\n    f = S.reshape(len(S), -1)\n"
            "    a, b = f.argmax(1), f.argmin(1)\n    return torch.stack([a // w, a % w], 1), torch.stack([b // w, b % w], 1)",
            "divides by the height": "def pick_points(S):\n    h = S.shape[-2]\n    f = S.reshape(len(S), -1)\n"
            "    a, b = f.argmax(1), f.argmin(1)\n    return torch.stack([a % h, a // h], 1), torch.stack([b % h, b // h], 1)",
        },
    ),
    ("06_segment_anything.ipynb", "mask_iou"): (
        "g0 = torch.Generator().manual_seed(0)\nS = torch.rand(3, 6, 6, generator=g0)\n"
        "truth = torch.rand(3, 6, 6, generator=g0) > 0.6\n",
        {
            "mean of per-image IoU": "def mask_iou(pred, true):\n    p, t = np.asarray(pred, bool), np.asarray(true, bool)\n"
            "    return float(np.mean([(a & b).sum() / max((a | b).sum(), 1) for a, b in zip(p, t)]))",
            "0 for an empty union": "def mask_iou(pred, true):\n    p, t = np.asarray(pred, bool), np.asarray(true, bool)\n"
            "    u = (p | t).sum()\n    return 0.0 if u == 0 else float((p & t).sum() / u)",
            "divides by the truth": "def mask_iou(pred, true):\n    p, t = np.asarray(pred, bool), np.asarray(true, bool)\n"
            "    return 1.0 if t.sum() == 0 else float((p & t).sum() / t.sum())",
        },
    ),
    ("07_group_projects.ipynb", "prototype_attention"): (
        "class Sky:\n    prototypes = torch.randn(1, 8, 64, generator=torch.Generator().manual_seed(1))\nsky = Sky()\n",
        {
            "softmax over the queries": "def prototype_attention(mm, prototypes):\n"
            "    s = mm @ prototypes.transpose(1, 2) / mm.shape[-1] ** 0.5\n    return s.softmax(dim=1) @ prototypes",
            "no 1/sqrt(D)": "def prototype_attention(mm, prototypes):\n"
            "    return (mm @ prototypes.transpose(1, 2)).softmax(dim=-1) @ prototypes",
            "divides by D": "def prototype_attention(mm, prototypes):\n"
            "    s = mm @ prototypes.transpose(1, 2) / mm.shape[-1]\n    return s.softmax(dim=-1) @ prototypes",
        },
    ),
    ("07_group_projects.ipynb", "uncertainty_weighting"): (
        "",
        {
            "forgets + s_t": "def uncertainty_weighting(losses, log_vars):\n"
            "    return sum(torch.exp(-log_vars[t]) * l for t, l in losses.items() if l != 0)",
            "keeps a zero loss": "def uncertainty_weighting(losses, log_vars):\n"
            "    return sum(torch.exp(-log_vars[t]) * l + log_vars[t] for t, l in losses.items())",
            "exp(+s_t)": "def uncertainty_weighting(losses, log_vars):\n"
            "    return sum(torch.exp(log_vars[t]) * l + log_vars[t] for t, l in losses.items() if l != 0)",
        },
    ),
    ("07_group_projects.ipynb", "efficiency_curves"): (
        _PROBE,
        {
            "optical only": _edit(_CURVES, ('("s1", "s2")', '("s2",)')),
            "the optical probe for both": _edit(_CURVES, ("(emb_train[m]", '(emb_train["s2"]')),
            "scored on the training tiles": _edit(
                _CURVES,
                ("emb_test[m],", "emb_train[m],"),
                ('emb_test["dominant_class"]', 'emb_train["dominant_class"]'),
            ),
        },
    ),
    ("07_group_projects.ipynb", "transfer"): (
        _PROBE,
        {
            "source and target swapped": _edit(
                _TRANSFER, ('source="s2", target="s1"', 'source="s1", target="s2"')
            ),
            "optical on both sides": _edit(_TRANSFER, ('target="s1"', 'target="s2"')),
            "fitted on the test tiles": _edit(_TRANSFER, ("(emb_train, emb_test,", "(emb_test, emb_train,")),
            "the cross-modal accuracy alone": _edit(
                _TRANSFER, ('target="s1")', 'target="s1")["cross_modal"]')
            ),
        },
    ),
    ("08_real_imagery.ipynb", "roughness"): (
        "g0 = torch.Generator().manual_seed(0)\n"
        "real_s1 = torch.randn(3, 2, 12, 16, generator=g0).cumsum(2) - 12\n"
        "sim_s1 = torch.randn(3, 2, 12, 16, generator=g0) * 3 - 12\n",
        {
            "adjacent columns": "def roughness(s1):\n    return float(np.abs(np.diff(np.asarray(s1)[:, 0], axis=2)).mean())",
            "both bands": "def roughness(s1):\n    return float(np.abs(np.diff(np.asarray(s1), axis=2)).mean())",
            "forgets abs": "def roughness(s1):\n    return float(np.diff(np.asarray(s1)[:, 0], axis=1).mean())",
        },
    ),
    ("08_real_imagery.ipynb", "speckle_autocorrelation"): (
        _WORLD + "pairs = [world[0], world[1]]\n",
        {
            "stays in dB": _edit(
                _SPECKLE, ("10 ** (np.asarray(vv_db, dtype=np.float64) / 10)", "np.asarray(vv_db)")
            ),
            "columns, not rows": _edit(_SPECKLE, ("(z[lag:] * z[:-lag])", "(z[:, lag:] * z[:, :-lag])")),
            "no local mean": _edit(_SPECKLE, ("lin / uniform_filter(lin, 15)", "lin / lin.mean()")),
            "forgets to subtract the mean": _edit(_SPECKLE, ("z = ratio - ratio.mean()", "z = ratio")),
            "one row too far": _edit(_SPECKLE, ("(z[lag:] * z[:-lag])", "(z[lag + 1 :] * z[: -lag - 1])")),
        },
    ),
    ("08_real_imagery.ipynb", "landscape_spread"): (
        "spread = {'real tune': 3.2}\n",
        {
            "subtracts dB, not variances": "def landscape_spread(tile_spread_db, looks):\n"
            "    return float(tile_spread_db - 10 / np.log(10) * np.sqrt(float(polygamma(1, looks))))",
            "forgets the square root": "def landscape_spread(tile_spread_db, looks):\n"
            "    return float(max(tile_spread_db**2 - (10 / np.log(10)) ** 2 * float(polygamma(1, looks)), 0))",
            "speckle of one look": "def landscape_spread(tile_spread_db, looks):\n"
            "    return float(np.sqrt(max(tile_spread_db**2 - (10 / np.log(10)) ** 2 * float(polygamma(1, 1)), 0)))",
        },
    ),
    ("08_real_imagery.ipynb", "standardised_vv"): (
        "from xmodal_lab.models.input_norm import InputNorm\n"
        "pre = torch.nn.Module()\npre.norm_s1 = InputNorm([-11.0, -18.0], [4.0, 5.0])\npretrained_state = pre.state_dict()\n"
        "real_tune_s1 = torch.randn(3, 2, 16, 16, generator=torch.Generator().manual_seed(0))\n"
        "real_tune_s1 = real_tune_s1 * torch.tensor([3.0, 2.0])[:, None, None] + torch.tensor([-8.0, -15.0])[:, None, None]\n",
        {
            "both bands": _edit(
                _STANDARDISED, ("z[:, 0].mean()), float(z[:, 0].std())", "z.mean()), float(z.std())")
            ),
            "the VH band": _edit(
                _STANDARDISED,
                ("z[:, 0].mean()), float(z[:, 0].std())", "z[:, 1].mean()), float(z[:, 1].std())"),
            ),
            "times the std": _edit(_STANDARDISED, ("/ norm.std", "* norm.std")),
            "forgets the mean": _edit(_STANDARDISED, ("(s1 - norm.mean) / norm.std", "s1 / norm.std")),
            "the sd of the raw band": _edit(_STANDARDISED, ("float(z[:, 0].std())", "float(s1[:, 0].std())")),
        },
    ),
    ("09_downstream.ipynb", "iou_per_class"): (
        "untrained = np.array([[30, 20], [15, 5]])\n",
        {
            "recall": "def iou_per_class(cm):\n    cm = np.asarray(cm, float)\n    return np.diag(cm) / cm.sum(1)",
            "precision": "def iou_per_class(cm):\n    cm = np.asarray(cm, float)\n    return np.diag(cm) / cm.sum(0)",
            "forgets to subtract TP": "def iou_per_class(cm):\n    cm = np.asarray(cm, float)\n"
            "    return np.diag(cm) / (cm.sum(0) + cm.sum(1))",
        },
    ),
    ("09_downstream.ipynb", "f1_at"): (
        "rng = np.random.default_rng(0)\ntruth = rng.random(50) < 0.3\n"
        "scored = {'scores': rng.normal(size=50) + 1.5 * truth, 'truth': truth}\ncal = scored\nheld_out = 0.8\n",
        {
            "accuracy": "def f1_at(scores, truth, threshold):\n"
            "    return float(((np.asarray(scores) > threshold) == np.asarray(truth)).mean())",
            "NaN without a TP": "def f1_at(scores, truth, threshold):\n    p, t = np.asarray(scores) > threshold, np.asarray(truth)\n"
            "    tp, fp, fn = (p & t).sum(), (p & ~t).sum(), (~p & t).sum()\n"
            "    return float(2 * tp / (2 * tp + fp + fn)) if tp else float('nan')",
            "the wrong side of the threshold": "def f1_at(scores, truth, threshold):\n"
            "    p, t = np.asarray(scores) < threshold, np.asarray(truth)\n"
            "    tp, fp, fn = (p & t).sum(), (p & ~t).sum(), (~p & t).sum()\n"
            "    return float(2 * tp / (2 * tp + fp + fn)) if tp else 0.0",
        },
    ),
}


def _check_cell(book, name):
    """The check cell of exercise ``name`` and the index of its checker statement."""
    for cell in book:
        if cell["cell_type"] != "code" or not tagged(cell, "check"):
            continue
        for i, stmt in enumerate(code_tree(cell).body):
            call = stmt.value if isinstance(stmt, ast.Assign) else None
            if (
                isinstance(call, ast.Call)
                and callee(call) in ("check_exercise", "check_answer")
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value == name
            ):
                return code_tree(cell), i
    raise AssertionError(f"no check cell for exercise {name!r}")


def _solution(book, target):
    """Source of the solution cell that defines ``target``."""
    for cell in book:
        if cell["cell_type"] == "code" and tagged(cell, "solution"):
            tree = code_tree(cell)
            if any(isinstance(s, ast.FunctionDef) and s.name == target for s in tree.body):
                return source(cell)
    raise AssertionError(f"no solution cell defines {target}")


def _run_check(notebook, name, setup, answer):
    """Run the notebook's check of ``name`` on the setup, with ``answer`` as the student's code."""
    book = cells(ROOT / notebook)
    imports = next(c for c in book if c["cell_type"] == "code" and "import xmodal_lab as xl" in source(c))
    ns = {"SEED": 0}
    exec("import torch.nn.functional as F\n" + source(imports), ns)
    exec(setup, ns)
    tree, at = _check_cell(book, name)
    kept = [
        s
        for s in tree.body[:at]
        if not (isinstance(s, ast.Assign) and all(isinstance(t, ast.Name) and t.id in ns for t in s.targets))
    ]
    exec(compile(ast.Module(body=kept, type_ignores=[]), notebook, "exec"), ns)
    target = tree.body[at].targets[0].id
    exec(textwrap.dedent(answer) if answer else _solution(book, target), ns)
    exec(compile(ast.Module(body=[tree.body[at]], type_ignores=[]), notebook, "exec"), ns)


@pytest.mark.parametrize(
    "notebook, name", list(MISTAKES), ids=lambda x: str(x).split("_")[0] if x.endswith("ipynb") else x
)
def test_the_lesson_solution_passes_its_check(notebook, name):
    _run_check(notebook, name, MISTAKES[notebook, name][0], None)


@pytest.mark.parametrize(
    "notebook, name, mistake",
    [(nb, name, m) for (nb, name), (_, wrong) in MISTAKES.items() for m in wrong],
    ids=lambda x: str(x).split("_")[0] if str(x).endswith("ipynb") else str(x).replace(" ", "-"),
)
def test_a_typical_mistake_fails_the_check(notebook, name, mistake):
    setup, wrong = MISTAKES[notebook, name]
    with pytest.raises(AssertionError, match=f"Exercise {name!r}"):
        _run_check(notebook, name, setup, wrong[mistake])


#: The solutions above that mistakes are made from, by exercise.
_EDITED = {
    ("03_scale_mae.ipynb", "gsd_encoding"): _GSD,
    ("03_scale_mae.ipynb", "high_band"): _HIGH_BAND,
    ("04_croma.ipynb", "cross_modal_accuracy"): _ACCURACY,
    ("05_embeddings_on_maps.ipynb", "water_selection"): _SELECTION,
    ("05_embeddings_on_maps.ipynb", "selection_area_km2"): _AREA,
    ("07_group_projects.ipynb", "efficiency_curves"): _CURVES,
    ("07_group_projects.ipynb", "transfer"): _TRANSFER,
    ("08_real_imagery.ipynb", "speckle_autocorrelation"): _SPECKLE,
    ("08_real_imagery.ipynb", "standardised_vv"): _STANDARDISED,
}


@pytest.mark.parametrize(
    "notebook, name", list(_EDITED), ids=lambda x: str(x).split("_")[0] if x.endswith("ipynb") else x
)
def test_the_edited_solutions_pass_unedited(notebook, name):
    """A mistake made by one edit fails because of that edit: the text it was edited from passes."""
    _run_check(notebook, name, MISTAKES[notebook, name][0], _EDITED[notebook, name])


def test_every_exercise_is_covered():
    """New exercises join MISTAKES, with small inputs that stand in for the lesson's trained models and files."""
    for path in sorted(ROOT.glob("[0-9][0-9]_*.ipynb")):
        for cell in cells(path):
            if cell["cell_type"] == "code" and tagged(cell, "check"):
                for stmt in code_tree(cell).body:
                    call = stmt.value if isinstance(stmt, ast.Assign) else None
                    if isinstance(call, ast.Call) and callee(call) in ("check_exercise", "check_answer"):
                        name = call.args[0].value
                        assert (path.name, name) in MISTAKES, (
                            f"{path.name}: exercise {name!r} has no list of typical mistakes in this test"
                        )
