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

#: (notebook, exercise): (setup code, {mistake: wrong function}). Each wrong function has the exercise's name.
MISTAKES = {
    ("00_welcome.ipynb", "db_to_linear"): (
        "pair = " + _WORLD.split("= ", 1)[1].strip() + "[0]\n",
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


def test_every_exercise_with_cheap_inputs_is_covered():
    """New exercises join MISTAKES; those needing trained embeddings or real files are listed as skipped."""
    needs_a_run = {
        "count_and_size",
        "cross_modal_accuracy",
        "water_selection",
        "selection_area_km2",
        "efficiency_curves",
        "transfer",
        "speckle_autocorrelation",
        "standardised_vv",
        "gsd_encoding",
        "high_band",
    }
    for path in sorted(ROOT.glob("[0-9][0-9]_*.ipynb")):
        for cell in cells(path):
            if cell["cell_type"] == "code" and tagged(cell, "check"):
                for stmt in code_tree(cell).body:
                    call = stmt.value if isinstance(stmt, ast.Assign) else None
                    if isinstance(call, ast.Call) and callee(call) in ("check_exercise", "check_answer"):
                        name = call.args[0].value
                        assert (path.name, name) in MISTAKES or name in needs_a_run, (
                            f"{path.name}: exercise {name!r} has no list of typical mistakes in this test"
                        )
