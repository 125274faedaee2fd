"""Helpers of the model tests: fake co-registered pairs (seeded, tiny, dB and reflectance), gradient and
overfitting checks. A plain module, not a conftest, so that its name cannot clash with other test folders."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def make_pairs(n: int = 4, size: int = 32, seed: int = 0, classes: int = 5, noise: float = 1.0) -> dict:
    """A batch of structured pairs: smooth land-cover fields seen by an optical and a radar 'sensor'.

    Returns:
        ``{"s1": [n, 2, size, size] dB, "s2": [n, 12, size, size] reflectance, "gsd": [n] metres,
        "landcover": [n, size, size] class ids, "labels": [n, 8] multi-hot, "lat", "lon": [n] degrees, "date": n ISO dates}``.
    """
    g = torch.Generator().manual_seed(seed)
    field = torch.randn(n, classes, max(1, size // 8), max(1, size // 8), generator=g)
    field = F.interpolate(field, size=(size, size), mode="bilinear", align_corners=False)
    cover = (field + 0.2 * torch.randn(n, classes, size, size, generator=g)).argmax(1)  # [n, H, W]
    spectra = 0.02 + 0.4 * torch.rand(classes, 12, generator=g)
    backscatter = torch.stack(
        [-5 - 15 * torch.rand(classes, generator=g), -12 - 15 * torch.rand(classes, generator=g)], 1
    )
    s2 = spectra[cover].permute(0, 3, 1, 2) + 0.01 * noise * torch.randn(n, 12, size, size, generator=g)
    s1 = backscatter[cover].permute(0, 3, 1, 2) + noise * torch.randn(n, 2, size, size, generator=g)
    return {
        "s1": s1.float(),
        "s2": s2.float(),
        "gsd": torch.full((n,), 10.0),
        "landcover": cover,
        "labels": F.one_hot(cover.flatten(1), 8).amax(1).float(),
        "lat": torch.zeros(n),
        "lon": torch.zeros(n),
        "date": ["2020-06-01"] * n,
    }


def assert_all_params_get_grad(model: torch.nn.Module, loss: torch.Tensor) -> None:
    """Backpropagate ``loss`` and fail naming every trainable parameter left without a non-zero gradient."""
    model.zero_grad(set_to_none=True)
    loss.backward()
    dead = [
        n
        for n, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)
    ]
    assert not dead, f"parameters without gradient: {dead}"


def overfit(
    model: torch.nn.Module, batch: dict, steps: int, lr: float = 3e-3, seed: int = 0
) -> tuple[float, float]:
    """Train on one fixed batch (same random masks every step); returns the first and last loss.

    Runs on one thread: tiny models gain nothing from more, and CI shares its cores between test workers.
    """
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(steps):
            torch.manual_seed(seed)  # identical masks each step: a pure memorisation task
            loss = model(batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    return losses[0], losses[-1]


def spy_croma_decoder(monkeypatch) -> dict:
    """Record CROMA's decoder outputs: the returned dict gets ``optical`` and ``radar`` predictions
    ``[B, N, p*p*C]`` at each forward pass (the model's loss is unchanged)."""
    from xmodal_lab.models.croma import CROMADecoder

    preds: dict = {}
    original = CROMADecoder.forward

    def spy(self, joint, ids_restore, grid):
        preds["optical"], preds["radar"] = original(self, joint, ids_restore, grid)
        return preds["optical"], preds["radar"]

    monkeypatch.setattr(CROMADecoder, "forward", spy)
    return preds


def sinkhorn_plan(scores: np.ndarray, eps: float, n_iters: int) -> np.ndarray:
    """Textbook Sinkhorn-Knopp: ``diag(u) exp(M / eps) diag(v)`` with row sums 1/N and column sums 1/K."""
    n, k = scores.shape
    kernel = np.exp((scores - scores.max()) / eps)
    u, v = np.ones(n), np.ones(k)
    for _ in range(n_iters):
        v = (1.0 / k) / (kernel.T @ u)
        u = (1.0 / n) / (kernel @ v)
    return u[:, None] * kernel * v[None, :]
