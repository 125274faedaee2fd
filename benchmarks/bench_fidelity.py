"""Paper fidelity: how far the kit's earlier simplifications were from the official behaviour, and what the
cross-modal alignment term of SkySense buys.

Usage: ``.venv/bin/python benchmarks/bench_fidelity.py [--seeds 0 1 2] [--steps 20] [--tiles 8] [--threads 1]``

Printed, on seeded synthetic pairs (``tests/models/model_helpers.make_pairs``-like smooth land-cover fields):

- CROMA: RMS difference between the official joint 14-channel norm-pix target and the per-modality variant
  (``norm_pix_scope="per_modality"``), radar and optical parts;
- ALiBi: largest slope difference between the official interleaving and the plain geometric schedule
  (6 and 12 heads);
- Scale-MAE: mean energy of the official high band ``img - bilinear(area(img -> 7))`` and of one octave
  (``band_config=None``) on standardised 64 px tiles;
- SkySense: radar -> optical top-1 retrieval among ``--tiles`` tiles after ``--steps`` training steps, with
  ``align_weight=1`` (default) and ``0`` (``L_MGCL`` only), per seed, then mean +/- sd.

The MMEarth comparison on held-out labels (optical-only vs optical + radar pretext tasks) is in
``bench_extensions.py`` (its "radar only" row).
"""

from __future__ import annotations

import argparse
import platform

import numpy as np
import torch
import torch.nn.functional as F

from xmodal_lab.models import build
from xmodal_lab.models.positions import alibi_slopes
from xmodal_lab.models.scale_mae import laplacian_bands


def pairs(n: int, size: int = 32, seed: int = 0, classes: int = 5) -> dict:
    """Smooth land-cover fields seen by an optical and a radar sensor (reflectance, dB), as the model tests make."""
    g = torch.Generator().manual_seed(seed)
    field = torch.randn(n, classes, size // 8, size // 8, generator=g)
    field = F.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)
    cover = (field + 0.2 * torch.randn(n, classes, size, size, generator=g)).argmax(1)
    spectra = 0.02 + 0.4 * torch.rand(classes, 12, generator=g)
    backscatter = torch.stack(
        [-5 - 15 * torch.rand(classes, generator=g), -12 - 15 * torch.rand(classes, generator=g)], 1
    )
    s2 = spectra[cover].permute(0, 3, 1, 2) + 0.01 * torch.randn(n, 12, size, size, generator=g)
    s1 = backscatter[cover].permute(0, 3, 1, 2) + torch.randn(n, 2, size, size, generator=g)
    return {"s1": s1, "s2": s2}


def target_differences() -> None:
    batch = pairs(8)
    joint, split = build("croma", "tiny"), build("croma", "tiny", norm_pix_scope="per_modality")
    x1, x2 = joint.norm_s1(batch["s1"]), joint.norm_s2(batch["s2"])
    (r1, o1), (r2, o2) = joint._targets(x1, x2), split._targets(x1, x2)
    rms = lambda t: t.pow(2).mean().sqrt().item()  # noqa: E731
    print(
        f"CROMA target RMS difference joint vs per-modality: radar {rms(r1 - r2):.3f}, optical {rms(o1 - o2):.3f}"
    )
    for heads in (6, 12):
        geometric = torch.tensor([2.0 ** (-8.0 * k / heads) for k in range(1, heads + 1)])
        print(
            f"ALiBi {heads} heads: max slope difference {(alibi_slopes(heads) - geometric).abs().max():.3f}"
        )
    img = build("scale_mae", "tiny").norm_s2(pairs(8, 64)["s2"])
    official = laplacian_bands(img)[1].pow(2).mean().item()
    octave = laplacian_bands(img, band_config=None)[1].pow(2).mean().item()
    print(
        f"Scale-MAE high-band energy (standardised 64 px tiles): official {official:.3f}, one octave {octave:.3f}"
    )


def retrieval(align_weight: float, seed: int, steps: int, tiles: int) -> float:
    torch.manual_seed(seed)
    model = build("skysense", "tiny", align_weight=align_weight)
    batch = pairs(tiles, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(steps):
        loss = model(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        enc = model.student(model._inputs(batch["s1"], batch["s2"]), {"s1": None, "s2": None}, None)
        z = {
            k: model.student.projectors[k](enc[k].flatten(-2).transpose(-1, -2)).mean(dim=(1, 2))
            for k in ("s1", "s2")
        }
    sim = F.normalize(z["s1"], dim=1) @ F.normalize(z["s2"], dim=1).t()
    return (sim.argmax(1) == torch.arange(tiles)).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--tiles", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"machine: {platform.processor() or platform.machine()}, {args.threads} thread(s), torch {torch.__version__}"
    )
    target_differences()
    rows = {1.0: [], 0.0: []}
    for seed in args.seeds:
        for w in rows:
            rows[w].append(retrieval(w, seed, args.steps, args.tiles))
        print(
            f"SkySense seed {seed}: radar->optical top-1 aligned {rows[1.0][-1]:.3f}, MGCL only {rows[0.0][-1]:.3f}"
        )
    for w, name in ((1.0, "aligned"), (0.0, "MGCL only")):
        v = np.array(rows[w])
        print(
            f"SkySense {name}: {v.mean():.3f} +/- {v.std(ddof=1) if len(v) > 1 else 0.0:.3f} (chance {1 / args.tiles:.3f})"
        )


if __name__ == "__main__":
    main()
