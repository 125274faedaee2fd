"""embed_dataset: per-modality embeddings, labels and metadata, for any model with ``embed``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from xmodal_lab.data import SimulatedWorld
from xmodal_lab.eval import embed_dataset
from xmodal_lab.models import build


class BandMeans(nn.Module):
    """A model whose embedding of each modality is its per-band mean (an independent reference)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def embed(self, s1=None, s2=None, gsd=None):
        out = {}
        if s1 is not None:
            out["s1"] = self.scale * s1.mean(dim=(2, 3))
        if s2 is not None:
            out["s2"] = self.scale * s2.mean(dim=(2, 3))
        return out


@pytest.fixture(scope="module")
def world():
    return SimulatedWorld(seed=3, size=16, n_scenes=7)


def test_embeddings_labels_and_metadata(world):
    model = BandMeans().train()
    emb = embed_dataset(model, world, batch_size=3)
    items = [world[i] for i in range(len(world))]
    assert emb["s1"].shape == (7, 2) and emb["s2"].shape == (7, 12)
    np.testing.assert_allclose(
        emb["s2"], np.stack([p["s2"].mean(dim=(1, 2)).numpy() for p in items]), rtol=1e-5
    )
    np.testing.assert_array_equal(emb["labels"], np.stack([p["labels"].numpy() for p in items]))
    dominant = [np.bincount(p["landcover"].flatten().numpy()).argmax() for p in items]
    np.testing.assert_array_equal(emb["dominant_class"], dominant)
    np.testing.assert_allclose(emb["lat"], [p["lat"] for p in items], atol=1e-4)
    assert list(emb["date"]) == [p["date"] for p in items]
    assert list(emb["biome"]) == [p["biome"] for p in items]
    assert model.training  # the mode is restored


class Recorder(BandMeans):
    """BandMeans that also takes the context a SkySense-style model uses, and records what it was given."""

    def embed(self, s1=None, s2=None, gsd=None, date=None, lat=None, lon=None):
        self.seen = {"date": date, "lat": lat, "lon": lon}
        return super().embed(s1=s1, s2=s2, gsd=gsd)


def test_context_reaches_models_that_take_it(world):
    model = Recorder()
    embed_dataset(model, world, batch_size=7)
    items = [world[i] for i in range(len(world))]
    assert model.seen["date"] == [p["date"] for p in items]
    np.testing.assert_allclose(np.asarray(model.seen["lat"]), [p["lat"] for p in items], atol=1e-4)
    np.testing.assert_allclose(np.asarray(model.seen["lon"]), [p["lon"] for p in items], atol=1e-4)


def test_skysense_embeddings_use_the_tile_location(world):
    """The geo-context prototypes of the tile's region are used: the embedding equals embed(lat=, lon=)."""
    torch.manual_seed(0)
    model = build("skysense", "tiny", img_size=16).eval()
    emb = embed_dataset(model, world, batch_size=7)
    items = [world[i] for i in range(len(world))]
    batch = {k: torch.stack([p[k] for p in items]) for k in ("s1", "s2")}
    lat = torch.tensor([float(p["lat"]) for p in items])
    lon = torch.tensor([float(p["lon"]) for p in items])
    dates = [p["date"] for p in items]
    with torch.no_grad():
        located = model.embed(**batch, date=dates, lat=lat, lon=lon)["joint"].numpy()
        unlocated = model.embed(**batch, date=dates)["joint"].numpy()
    np.testing.assert_allclose(emb["joint"], located, atol=1e-5)
    assert np.abs(emb["joint"] - unlocated).max() > 1e-4


def test_real_model_independent_of_batch_size(world):
    torch.manual_seed(0)
    model = build("contrastive", "tiny", img_size=16)
    a = embed_dataset(model, world, batch_size=2)
    b = embed_dataset(model, world, batch_size=7)
    assert a["s1"].shape == (7, model.config.proj_dim)
    np.testing.assert_allclose(a["s1"], b["s1"], atol=1e-5)
    np.testing.assert_allclose(a["s2"], b["s2"], atol=1e-5)


def test_errors(world):
    with pytest.raises(ValueError, match="empty"):
        embed_dataset(BandMeans(), torch.utils.data.Subset(world, []))

    class Broken(BandMeans):
        def embed(self, s1=None, s2=None, gsd=None):
            return {"s1": s1}  # [B, 2, H, W], not [B, D]

    with pytest.raises(ValueError, match=r"\[B, D\]"):
        embed_dataset(Broken(), world)


def test_concat_rows_into_one_array_places_rows_and_drops_the_unfilled():
    from xmodal_lab.eval.embeddings import concat_rows

    rng = np.random.default_rng(0)
    parts = [{"a": rng.normal(size=(n, 3)).astype(np.float32), "b": rng.integers(0, 9, size=n)} for n in (4, 4, 2)]
    whole = {k: np.concatenate([p[k] for p in parts]) for k in ("a", "b")}
    # one after another, and with room to spare
    for total in (10, 13):
        got = concat_rows(iter(parts), total)
        for k, v in whole.items():
            assert got[k].dtype == v.dtype and np.array_equal(got[k], v)
    # each batch row at its place: the result is in the places' order; places never filled are dropped
    places = [11, 3, 7, 0, 5, 9, 2, 12, 4, 8]
    got = concat_rows(iter(parts), 13, places)
    for k, v in whole.items():
        assert np.array_equal(got[k], v[np.argsort(places)])
    every = list(rng.permutation(10))
    got = concat_rows(iter(parts), 10, every)
    assert np.array_equal(got["a"][every], whole["a"])
    with pytest.raises(ValueError, match="keys"):
        concat_rows(iter([parts[0], {"a": parts[1]["a"]}]), 10)
