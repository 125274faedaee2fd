"""pretrained(): torchgeo models with random weights, saved in each published layout, load through path= and
give torchgeo's outputs on the same physical-unit inputs once torchgeo's own recipe is applied. Offline only.

The recipes in these tests are written from the papers / torchgeo's transforms, never with the kit's helpers:
CROMA's per-band stretch and clip, DeCUR's and SoftCon's torchgeo ``Normalize`` transforms (taken from the
weight enums), Scale-MAE's ``/ 255`` + ImageNet transforms. The large published models (CROMA-B/L, Scale-MAE
ViT-L) are tested with config-reduced torchgeo models in the same file layout (the converters read width and
depth from the weights); the two ResNet-50 pairs are tested at full size.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import sys
import urllib.error
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torchvision.transforms.v2 as T
from torchgeo.models import ResNet50_Weights, ScaleMAELarge16_Weights, resnet50
from torchgeo.models.croma import CROMA as TorchgeoCROMA
from torchgeo.models.scale_mae import ScaleMAE as TorchgeoScaleMAE

from xmodal_lab.errors import CheckpointError
from xmodal_lab.models import CROMA, ContrastiveDualEncoder, ScaleMAE
from xmodal_lab.weights import PRETRAINED, list_pretrained, pretrained, pretrained_table, weights_files

# SSL4EO-S12 statistics (zhu-xlab/SSL4EO-S12; torchgeo's SSL4EO-S12 transforms): S1 in dB, S2 L1C in DN
S1_MEAN, S1_STD = torch.tensor([-12.59, -20.26]), torch.tensor([5.26, 5.91])
S2_MEAN = torch.tensor(
    [1612.9, 1397.6, 1322.3, 1373.1, 1561.0, 2108.4, 2390.7, 2318.7, 2581.0, 837.7, 22.0, 2195.2, 1537.4]
)
S2_STD = torch.tensor(
    [791.0, 854.3, 878.7, 1144.9, 1127.5, 1164.2, 1276.0, 1249.5, 1345.9, 577.5, 47.5, 1340.0, 1142.9]
)
NO_B10 = [i for i in range(13) if i != 10]


def with_arch(name: str, **arch) -> object:
    """The spec of ``name`` expecting a config-reduced stand-in of the large published model."""
    return replace(
        PRETRAINED[name], arch={k if k == "in_chans" else f"config.{k}": v for k, v in arch.items()}
    )


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test may reach the network, and torch hub's cache is an empty temporary folder."""

    def refuse(*args, **kwargs):
        raise OSError("network disabled in tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


def _jitter(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model.eval()


def _physical(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sentinel-1 dB and Sentinel-2 reflectance, wide enough that the recipes' clips bite."""
    g = torch.Generator().manual_seed(seed)
    s1 = torch.stack([-12.0 + 8.0 * torch.randn(n, size, size, generator=g), -20.0 + 8.0 * torch.randn(n, size, size, generator=g)], 1)  # fmt: skip
    s2 = 0.55 * torch.rand(n, 12, size, size, generator=g) * torch.linspace(0.3, 1.2, 12).reshape(1, 12, 1, 1)
    return s1, s2


def _croma_reference(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """CROMA (antofuller/CROMA README): per band, stretch mean - 2 std .. mean + 2 std onto [0, 1] and clip."""
    lo, hi = (mean - 2 * std).reshape(1, -1, 1, 1), (mean + 2 * std).reshape(1, -1, 1, 1)
    return torch.clip((x - lo) / (hi - lo), 0, 1)


def _torchgeo_normalize(weights, x: torch.Tensor) -> torch.Tensor:
    """torchgeo's recipe of a weight enum, without its geometric steps (Resize, CenterCrop)."""
    out = x.clone()  # the transforms are in place
    for t in weights.transforms:
        if isinstance(t, T.Normalize):
            out = t(out)
    return out


def _insert_b10_dn(s2: torch.Tensor) -> torch.Tensor:
    """13 SSL4EO-S12 bands in DN from the kit's 12 reflectance bands, B10 at its SSL4EO mean (22 DN)."""
    dn = 10000.0 * s2
    b10 = torch.full_like(dn[:, :1], 22.0)
    return torch.cat([dn[:, :10], b10, dn[:, 10:]], dim=1)


# ----------------------------------------------------------------------------------------------- CROMA
@pytest.fixture(scope="module")
def small_croma():
    torch.manual_seed(0)
    return _jitter(TorchgeoCROMA(encoder_dim=64, encoder_depth=2, num_heads=16, patch_size=8, image_size=32))


def _save_official_croma(model: TorchgeoCROMA, file) -> None:
    """The file torchgeo downloads (CROMA_base-0238d814.pt): one state dict per part."""
    parts = ("s1_encoder", "s1_GAP_FFN", "s2_encoder", "s2_GAP_FFN", "joint_encoder")
    torch.save({p: getattr(model, p).state_dict() for p in parts}, file)


@pytest.mark.parametrize("name", ["croma_base", "croma_large"])
def test_croma_matches_torchgeo_on_physical_units(small_croma, tmp_path, monkeypatch, name):
    monkeypatch.setitem(PRETRAINED, name, with_arch(name, embed_dim=64, optical_depth=2, radar_depth=1))
    file = tmp_path / "croma.pt"
    _save_official_croma(small_croma, file)
    model = pretrained(name, path=file)
    assert isinstance(model, CROMA) and model.pretrained_name == name and not model.training
    s1, s2 = _physical(3, 32)
    x_sar = _croma_reference(s1, S1_MEAN, S1_STD)
    x_opt = _croma_reference(10000.0 * s2, S2_MEAN[NO_B10], S2_STD[NO_B10])
    # the clip is exercised on both sides in both modalities
    for x in (x_sar, x_opt):
        assert (x == 0).any() and (x == 1).any() and ((x > 0) & (x < 1)).float().mean() > 0.5
    with torch.no_grad():
        ref = small_croma(x_sar, x_opt)
        got = model.encode(s1=s1, s2=s2)
        emb = model.embed(s1=s1, s2=s2)
    assert set(ref) == set(got)
    for key in ref:
        assert torch.allclose(ref[key], got[key], atol=1e-5), key
    assert torch.allclose(emb["s2"], ref["optical_GAP"], atol=1e-5)


def test_croma_refuses_weights_of_another_size(small_croma, tmp_path):
    file = tmp_path / "small.pt"
    _save_official_croma(small_croma, file)
    with pytest.raises(CheckpointError, match=r"not 'croma_base': embed_dim=64 \(expected 768\)"):
        pretrained("croma_base", path=file)


def test_croma_loads_from_torch_hub_cache(small_croma, monkeypatch):
    monkeypatch.setitem(
        PRETRAINED, "croma_base", with_arch("croma_base", embed_dim=64, optical_depth=2, radar_depth=1)
    )
    _, cache = weights_files("croma_base")["model"]
    assert cache.name == "CROMA_base-0238d814.pt" and "torch_home" in str(cache)
    cache.parent.mkdir(parents=True)
    _save_official_croma(small_croma, cache)
    model = pretrained("croma_base")  # found in the cache: no download
    s1, s2 = _physical(2, 32, seed=3)
    with torch.no_grad():
        x_opt = _croma_reference(10000.0 * s2, S2_MEAN[NO_B10], S2_STD[NO_B10])
        ref = small_croma(_croma_reference(s1, S1_MEAN, S1_STD), x_opt)
        assert torch.allclose(model.encode(s1=s1, s2=s2)["joint_GAP"], ref["joint_GAP"], atol=1e-5)


def _mapped_ranges(file: Path) -> list[tuple[int, int]]:
    """Address ranges of this process mapped from ``file`` (Linux ``/proc/self/maps``)."""
    ranges = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        if line.endswith(str(file.resolve())):
            lo, hi = line.split()[0].split("-")
            ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")
def test_pretrained_keeps_the_files_tensors_and_never_writes_the_file(small_croma, tmp_path, monkeypatch):
    from xmodal_lab.serialization import safe_load
    from xmodal_lab.weights import croma_from_torchgeo

    monkeypatch.setitem(
        PRETRAINED, "croma_base", with_arch("croma_base", embed_dim=64, optical_depth=2, radar_depth=1)
    )
    file = tmp_path / "croma.pt"
    _save_official_croma(small_croma, file)
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    model = pretrained("croma_base", path=file)
    copied = croma_from_torchgeo(safe_load(file), img_size=120).eval()  # the read-and-copy reference
    copied.norm_s1, copied.norm_s2 = model.norm_s1, model.norm_s2  # the same input recipe
    ranges, params = _mapped_ranges(file), list(model.parameters())
    inside = sum(p.numel() for p in params if any(lo <= p.data_ptr() < hi for lo, hi in ranges))
    held = sum(v.numel() for part in safe_load(file).values() for v in part.values())
    # all the file holds but the key / value projections (merged into one tensor) stays in its mapping
    assert 0.9 * held < inside <= held
    s1, s2 = _physical(2, 32, seed=5)
    with torch.no_grad():
        got, ref = model.embed(s1=s1, s2=s2), copied.embed(s1=s1, s2=s2)
        assert all(torch.equal(got[k], ref[k]) for k in ref)
        for p in model.parameters():  # training writes to the tensors: copies on write, never the file
            p.add_(1.0)
    assert hashlib.sha256(file.read_bytes()).hexdigest() == digest


_PEAK = """
import resource, sys
from dataclasses import replace
import torch
from xmodal_lab.weights import PRETRAINED, pretrained
PRETRAINED["croma_base"] = replace(PRETRAINED["croma_base"], arch={})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
model = pretrained("croma_base", path=sys.argv[1])
peak = 1024 * (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
print(peak, sum(p.numel() * p.element_size() for p in model.parameters()))
"""


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB")
def test_pretrained_peak_memory_is_near_one_copy_of_the_weights(tmp_path):
    torch.manual_seed(0)
    big = TorchgeoCROMA(encoder_dim=384, encoder_depth=8, num_heads=16, patch_size=8, image_size=120)
    file = tmp_path / "croma.pt"
    _save_official_croma(big, file)
    del big
    run = subprocess.run([sys.executable, "-c", _PEAK, str(file)], capture_output=True, text=True, check=True)
    peak, model_bytes = (int(v) for v in run.stdout.split()[-2:])
    # reading the file, then copying it into a fresh model, holds the file and the model (here 1.9 x the
    # model: its decoder is not in the file); a generous cap below that
    assert peak < 1.4 * model_bytes


# ------------------------------------------------------------------------------------ DeCUR / SoftCon
@pytest.mark.parametrize(
    ("name", "w1", "w2"),
    [
        ("decur", ResNet50_Weights.SENTINEL1_ALL_DECUR, ResNet50_Weights.SENTINEL2_ALL_DECUR),
        ("softcon", ResNet50_Weights.SENTINEL1_GRD_SOFTCON, ResNet50_Weights.SENTINEL2_ALL_SOFTCON),
    ],
)
def test_resnet_pairs_match_torchgeo_on_physical_units(tmp_path, name, w1, w2):
    torch.manual_seed(0)
    # the published files are timm resnet50 state dicts (torchgeo loads them with strict=False, fc ignored)
    tg1 = _jitter(resnet50(in_chans=w1.meta["in_chans"]), seed=1)
    tg2 = _jitter(resnet50(in_chans=w2.meta["in_chans"]), seed=2)
    assert (w1.meta["in_chans"], w2.meta["in_chans"]) == (2, 13)
    files = weights_files(name)
    torch.save(tg1.state_dict(), tmp_path / files["s1"][1].name)
    torch.save(tg2.state_dict(), tmp_path / files["s2"][1].name)
    # a folder holding both published file names (random weights: their hash prefixes cannot match)
    model = pretrained(name, path=tmp_path, check_hash=False)
    assert isinstance(model, ContrastiveDualEncoder) and not model.training
    s1, s2 = _physical(2, 64, seed=4)
    with torch.no_grad():
        ref1 = tg1.forward_features(_torchgeo_normalize(w1, s1))
        ref2 = tg2.forward_features(_torchgeo_normalize(w2, _insert_b10_dn(s2)))
        feats = model.features(s1=s1, s2=s2)
        emb = model.embed(s1=s1, s2=s2)
        # torchgeo's classifier-free forward pools the last feature map
        pooled = torch.nn.functional.normalize(ref2.mean(dim=(2, 3)), dim=-1)
    assert feats["s1"].shape == (2, 2048, 2, 2)
    assert torch.allclose(feats["s1"], ref1, atol=1e-4, rtol=1e-4)
    assert torch.allclose(feats["s2"], ref2, atol=1e-4, rtol=1e-4)
    assert torch.allclose(emb["s2"], pooled, atol=1e-5)
    # the mapping was a real one: the recipe's output is not the raw input
    assert not torch.allclose(model.norm_s1(s1), s1)


def test_resnet_pair_needs_both_files(tmp_path):
    file = tmp_path / "one.pth"
    torch.save(resnet50(in_chans=2).state_dict(), file)
    with pytest.raises(ValueError, match="folder holding them"):
        pretrained("decur", path=file)
    with pytest.raises(FileNotFoundError, match="rn50_ssl4eo-s12_ms_decur_ep100-fc6b09ff.pth"):
        pretrained("decur", path={"s1": file, "s2": tmp_path / "absent.pth"})


# ---------------------------------------------------------------------------------------------- Scale-MAE
def test_scale_mae_matches_torchgeo_on_physical_units(tmp_path, monkeypatch):
    name = "scale_mae_large"
    monkeypatch.setitem(PRETRAINED, name, with_arch(name, embed_dim=64, depth=2, patch_size=8, in_chans=3))
    torch.manual_seed(0)
    # Scale-MAE's reference code encodes res = GSD ratio x 2.5; a 10 m Sentinel-2 tile is ratio 1
    tg = _jitter(
        TorchgeoScaleMAE(res=2.5, img_size=32, patch_size=8, in_chans=3, embed_dim=64, depth=2, num_heads=16, num_classes=0)
    )  # fmt: skip
    file = tmp_path / "scalemae.pth"
    torch.save(tg.state_dict(), file)  # the published layout: a flat timm ViT state dict with pos_embed
    model = pretrained(name, path=file)
    assert isinstance(model, ScaleMAE) and model.config.s2_bands == (3, 2, 1)
    s2 = 0.45 * torch.rand(2, 12, 32, 32, generator=torch.Generator().manual_seed(5))
    rgb8 = torch.clip(s2[:, [3, 2, 1]] / 0.3, 0, 1) * 255  # B4 B3 B2, 0.3 reflectance = white
    assert (rgb8 == 255).any()  # the clip is exercised
    with torch.no_grad():
        ref = tg.forward_features(_torchgeo_normalize(ScaleMAELarge16_Weights.FMOW_RGB, rgb8))
        feats = model.features(s2=s2, gsd=10.0)["s2"]
    assert torch.allclose(feats.flatten(2).transpose(1, 2), ref[:, 1:], atol=1e-5)


# ------------------------------------------------------------------------------------- offline behaviour
def test_offline_error_names_url_and_cache():
    url, cache = weights_files("croma_base")["model"]
    with pytest.raises(FileNotFoundError) as err:
        pretrained("croma_base")
    msg = str(err.value)
    assert url in msg and str(cache) in msg and "download=True" in msg and "path=" in msg


def test_download_failure_is_a_clear_error(monkeypatch):
    calls = []

    def fail(url, *args, **kwargs):
        calls.append((url, kwargs))
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", fail)
    with pytest.raises(RuntimeError, match="download failed") as err:
        pretrained("decur", download=True)
    assert weights_files("decur")["s1"][0] in str(err.value)
    # torch hub is asked to verify the hash and to load without executing code
    assert calls and calls[0][1]["check_hash"] is True and calls[0][1]["weights_only"] is True


def test_published_name_with_wrong_content_fails_hash_check(tmp_path, small_croma):
    file = tmp_path / "CROMA_base-0238d814.pt"
    _save_official_croma(small_croma, file)
    with pytest.raises(CheckpointError, match="does not match the published weights"):
        pretrained("croma_base", path=file)


def test_unreadable_file_is_named(tmp_path):
    file = tmp_path / "broken.pt"
    file.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pt: not a weights file"):
        pretrained("croma_base", path=file)


def test_unknown_name_and_table():
    with pytest.raises(KeyError, match="choose one of"):
        pretrained("croma_huge")
    assert {"croma_base", "croma_large", "decur", "softcon", "scale_mae_large"} <= set(list_pretrained())
    table = pretrained_table()
    assert all(f"`{n}`" in table for n in list_pretrained())
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert table in readme, "README's table of published weights is stale: paste pretrained_table()"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pretrained_recipes_run_on_gpu_under_bf16(small_croma, tmp_path, monkeypatch):
    monkeypatch.setitem(
        PRETRAINED, "croma_base", with_arch("croma_base", embed_dim=64, optical_depth=2, radar_depth=1)
    )
    file = tmp_path / "croma.pt"
    _save_official_croma(small_croma, file)
    model = pretrained("croma_base", path=file)
    s1, s2 = _physical(4, 32, seed=6)
    with torch.no_grad():
        ref = model.embed(s1=s1, s2=s2)
        model = model.cuda()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            got = model.embed(s1=s1.cuda(), s2=s2.cuda())
    for key in ref:
        cos = torch.nn.functional.cosine_similarity(got[key].float().cpu(), ref[key], dim=-1)
        assert cos.min() > 0.99, (key, cos)
