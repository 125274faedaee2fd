"""The bad-input cases, one table shared by the test suite and ``scripts/reliability_probe.py``.

Each :class:`Case` runs public API (or the command line) on generated inputs and states what a careful kit
does: raise ``expect`` with a message matching ``match``, warn ``warn`` matching ``match``, or return a
result for which ``check`` holds. ``kind`` says what a failure would mean (``silent`` wrong answer,
``lost`` work, ``code`` execution), for the probe's counts.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from reliability_helpers import SIZE, CliError, Ctx, cli, cli_world, s1_db, s2_reflectance

from xmodal_lab import errors


@dataclass
class Case:
    """One bad or edge input and what the kit must do with it."""

    id: str
    category: str
    run: Callable[[Ctx], Any]
    expect: type[BaseException] | None = None
    match: str = ""
    warn: type[Warning] | None = None
    check: Callable[[Any, Ctx], bool] | None = None
    kind: str = "silent"  # what it is when the kit does not do it: silent, lost or code
    still_open: str = ""  # why the kit does not do it yet (the suite expects the case to fail)


CASES: list[Case] = []


def case(id: str, category: str, run: Callable[[Ctx], Any], **kw: Any) -> None:
    """Add a case to :data:`CASES`."""
    CASES.append(Case(id, category, run, **kw))


# --- rasters: NaN as nodata, tile selection -------------------------------------------------------------
def _raster(ctx: Ctx, s1=None, s2=None, tag: str = "", tags: dict | None = None, **kw):
    from xmodal_lab.data import PairedRasterDataset

    p1, p2 = ctx.pair(s1, s2, tag, **(tags or {}))
    return PairedRasterDataset(p1, p2, size=kw.pop("size", SIZE), **kw)


def _nan_tile() -> np.ndarray:
    x = s2_reflectance()
    x[:, :SIZE, :SIZE] = np.nan  # the top-left tile of four
    return x


def _one_nan_pixel() -> np.ndarray:
    x = s2_reflectance()
    x[3, 5, 5] = np.nan
    return x


NaN = errors.NodataError
case("nan-s2-all", "nan", lambda c: _raster(c, s2=np.full((12, 32, 32), np.nan, np.float32)), expect=NaN,
     match="NaN")  # fmt: skip
case("nan-s2-all-band", "nan", lambda c: _raster(c, s2=np.where(np.arange(12)[:, None, None] == 0, np.nan,
     s2_reflectance()).astype(np.float32)), expect=NaN, match="NaN")  # fmt: skip
case("nan-s1-all", "nan", lambda c: _raster(c, s1=np.full((2, 32, 32), np.nan, np.float32)), expect=NaN,
     match="nodata|NaN")  # fmt: skip
case("nan-tile-dropped", "nan", lambda c: _raster(c, s2=_nan_tile()), check=lambda d, c: len(d) == 3
     and (0, 0) not in d.windows)  # fmt: skip
case("nan-tile-max1", "nan", lambda c: _raster(c, s2=_nan_tile(), max_nodata=1.0),
     check=lambda d, c: (0, 0) not in d.windows and all(bool(d[i]["s2"].abs().sum() > 0) for i in range(len(d))))  # fmt: skip
case("nan-maxnodata0", "nan", lambda c: _raster(c, s2=_one_nan_pixel(), max_nodata=0.0),
     check=lambda d, c: len(d) == 3 and (0, 0) not in d.windows)  # fmt: skip
case("nan-pixel-filled", "nan", lambda c: _raster(c, s2=_one_nan_pixel(), max_nodata=0.5),
     check=lambda d, c: bool(d[0]["nodata_mask"][5, 5]) and bool(torch.isfinite(d[0]["s2"]).all()))  # fmt: skip
case("nan-inf-s2", "nan", lambda c: _raster(c, s2=np.where(np.arange(12)[:, None, None] == 1, np.inf,
     s2_reflectance()).astype(np.float32))[0], expect=ValueError, match="infinite")  # fmt: skip
case("nan-inf-s1", "nan", lambda c: _raster(c, s1=np.full((2, 32, 32), np.inf, np.float32)), expect=ValueError,
     match="infinite")  # fmt: skip

# --- rasters: other arguments ---------------------------------------------------------------------------
case("raster-size0", "raster", lambda c: _raster(c, size=0), expect=ValueError, match="size")
case("raster-size-float", "raster", lambda c: _raster(c, size=15.5), expect=TypeError, match="size")
case("raster-stride0", "raster", lambda c: _raster(c, stride=0), expect=ValueError, match="stride")
case("raster-stride-float", "raster", lambda c: _raster(c, stride=7.5), expect=TypeError, match="stride")
case(
    "raster-maxnodata", "raster", lambda c: _raster(c, max_nodata=1.5), expect=ValueError, match="max_nodata"
)
case("raster-maxnodata-neg", "raster", lambda c: _raster(c, max_nodata=-0.1), expect=ValueError,
     match="max_nodata")  # fmt: skip
case("raster-units", "raster", lambda c: _raster(c, s1_units="dB "), expect=ValueError, match="s1_units")
case("raster-s1-bands", "raster", lambda c: _raster(c, s1=np.zeros((3, 32, 32), np.float32) - 10),
     expect=ValueError, match="2 bands")  # fmt: skip
case("raster-s2-bands", "raster", lambda c: _raster(c, s2=np.ones((10, 32, 32), np.uint16)),
     expect=ValueError, match="12 bands")  # fmt: skip
case("raster-small", "raster", lambda c: _raster(c, size=64), expect=ValueError, match="smaller than")
case("raster-missing", "raster", lambda c: __import__("xmodal_lab.data", fromlist=["x"]).PairedRasterDataset(
     c.inputs / "no_s1.tif", c.inputs / "no_s2.tif"), expect=FileNotFoundError, match="no_s1")  # fmt: skip
case("raster-nocrs", "raster", lambda c: __import__("xmodal_lab.data", fromlist=["x"]).PairedRasterDataset(
     c.tif("s1.tif", s1_db(), crs=None), c.tif("s2.tif", s2_reflectance(), crs=None), size=SIZE),
     expect=ValueError, match="CRS")  # fmt: skip
case("raster-date", "raster", lambda c: _raster(c, date="June"), expect=ValueError, match="date")
case("raster-s2scale-str", "raster", lambda c: _raster(c, s2_scale="x"), expect=ValueError, match="s2_scale")
case("raster-s2scale-neg", "raster", lambda c: _raster(c, s2_scale=-1.0), expect=ValueError, match="s2_scale")
case("raster-s2offset-str", "raster", lambda c: _raster(c, s2_offset="x"), expect=ValueError,
     match="s2_offset")  # fmt: skip
case("raster-resampling", "raster", lambda c: _raster(c, resampling="cubicish"), expect=ValueError,
     match="resampling")  # fmt: skip
case("raster-index-float", "raster", lambda c: _raster(c)[1.5], expect=TypeError, match="index")
case("raster-index-range", "raster", lambda c: _raster(c)[4], expect=IndexError, match="4")
case("raster-good", "raster", lambda c: _raster(c), check=lambda d, c: len(d) == 4
     and abs(float(d[1]["s2"].mean()) - float(s2_reflectance()[:, :SIZE, SIZE:].mean())) < 1e-3)  # fmt: skip

# --- units: loaders -------------------------------------------------------------------------------------
W = errors.UnitsWarning
DN = (s2_reflectance() * 10000).astype(np.float32)
case(
    "units-s2-float-dn-scale1",
    "units",
    lambda c: _raster(c, s2=DN, s2_scale=1.0),
    warn=W,
    match="digital numbers",
)
case("units-s2-uint16-scale1", "units", lambda c: _raster(c, s2=DN.astype(np.uint16), s2_scale=1.0), warn=W,
     match="digital numbers")  # fmt: skip
case("units-s2-scaled-up", "units", lambda c: _raster(c, s2=DN, s2_scale=10000), warn=W, match="far above")
case("units-s2-twice", "units", lambda c: _raster(c, s2=s2_reflectance(), s2_scale=1e-4), warn=W,
     match="twice")  # fmt: skip
case("units-s1-linear", "units", lambda c: _raster(c, s1=(10 ** (s1_db() / 10)).astype(np.float32)), warn=W,
     match="linear power")  # fmt: skip
case("units-s1-db100", "units", lambda c: _raster(c, s1=s1_db() * 100), warn=W, match="x 100")
case("units-s1-db-as-linear", "units", lambda c: _raster(c, s1_units="linear"), expect=errors.UnitsError,
     match="look like dB")  # fmt: skip
case("units-offset-tag", "units", lambda c: _raster(c, tags={"PROCESSING_BASELINE": "04.00"}),
     check=lambda d, c: abs(float(d[1]["s2"].mean()) - (float(s2_reflectance()[:, :SIZE, SIZE:].mean()) - 0.1))
     < 1e-3)  # fmt: skip
case("units-offset-tag-old", "units", lambda c: _raster(c, tags={"PROCESSING_BASELINE": "03.01"}),
     check=lambda d, c: abs(float(d[1]["s2"].mean()) - float(s2_reflectance()[:, :SIZE, SIZE:].mean())) < 1e-3)  # fmt: skip
case("units-offset-boa-tag", "units", lambda c: _raster(c, tags={"BOA_ADD_OFFSET": "-1000"}),
     check=lambda d, c: abs(float(d[1]["s2"].mean()) - (float(s2_reflectance()[:, :SIZE, SIZE:].mean()) - 0.1))
     < 1e-3)  # fmt: skip
case("units-offset-explicit", "units", lambda c: _raster(c, s2_offset=0.0, tags={"PROCESSING_BASELINE": "04.00"}),
     check=lambda d, c: abs(float(d[1]["s2"].mean()) - float(s2_reflectance()[:, :SIZE, SIZE:].mean())) < 1e-3)  # fmt: skip
case("units-offset-dark", "units", lambda c: _raster(c, s2=((s2_reflectance() + 0.1) * 10000).astype(np.uint16)),
     warn=W, match="s2_offset")  # fmt: skip


def _units(fn: str, x: Any, **kw: Any) -> Any:
    from xmodal_lab import units

    return getattr(units, fn)(x, **kw)


def _quiet(fn: Callable[[], Any]) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.UnitsWarning)
        fn()
    return True


REFL = torch.from_numpy(s2_reflectance())
DB = torch.from_numpy(s1_db())
case("units-fn-s2-uint16", "units", lambda c: _units("check_s2", REFL.mul(1e4).to(torch.int32)), warn=W,
     match="digital numbers")  # fmt: skip
case("units-fn-s2-dn", "units", lambda c: _units("check_s2", REFL * 1e4), warn=W, match="s2_scale")
case("units-fn-s2-dn-strict", "units", lambda c: _units("check_s2", REFL * 1e4, strict=True),
     expect=errors.UnitsError, match="digital numbers")  # fmt: skip
case("units-fn-s2-twice", "units", lambda c: _units("check_s2", REFL * 1e-4), warn=W, match="twice")
case(
    "units-fn-s2-numpy", "units", lambda c: _units("check_s2", (REFL * 1e4).numpy()), warn=W, match="digital"
)
case("units-fn-s2-ok", "units", lambda c: _quiet(lambda: _units("check_s2", REFL)), check=lambda r, c: r)
case("units-fn-s2-ok-batch", "units", lambda c: _quiet(lambda: _units("check_s2", REFL[None].repeat(3, 1, 1, 1))),
     check=lambda r, c: r)  # fmt: skip
case("units-fn-s1-linear", "units", lambda c: _units("check_s1", 10 ** (DB / 10)), warn=W, match="10\\*log10")
case("units-fn-s1-db100", "units", lambda c: _units("check_s1", DB * 100), warn=W, match="x 100")
case("units-fn-s1-db100-strict", "units", lambda c: _units("check_s1", DB * 100, strict=True),
     expect=errors.UnitsError, match="x 100")  # fmt: skip
case("units-fn-s1-ok", "units", lambda c: _quiet(lambda: _units("check_s1", DB)), check=lambda r, c: r)
case(
    "units-fn-offset",
    "units",
    lambda c: _units("check_s2", REFL + 0.1, offset=True),
    warn=W,
    match="s2_offset",
)
case(
    "units-fn-pair", "units", lambda c: _units("check_pair", {"s1": DB, "s2": REFL * 1e4}), warn=W, match="s2"
)
case("units-fn-empty", "units", lambda c: _quiet(lambda: _units("check_s2", torch.zeros(12, 0, 0))),
     check=lambda r, c: r)  # fmt: skip


# --- checkpoints: safe loading --------------------------------------------------------------------------
def _readers():
    from xmodal_lab.models import load_model
    from xmodal_lab.train import checkpoint_info, fit, load_checkpoint

    return {
        "info": checkpoint_info,
        "load": load_checkpoint,
        "model": load_model,
        "resume": lambda p: fit(
            _ctx_model(), _ctx_world(), max_steps=2, batch_size=4, resume=p, progress=False
        ),
    }


def _ctx_model():
    from xmodal_lab.config import seed_everything
    from xmodal_lab.models import build

    seed_everything(0)
    return build("contrastive", "tiny", img_size=SIZE)


def _ctx_world():
    from xmodal_lab.data import SimulatedWorld

    return SimulatedWorld(seed=0, size=SIZE, n_scenes=8)


def _evil(c: Ctx, reader: str, raw: bool = False) -> Any:
    path, marker = c.raw_pickle() if raw else c.malicious()
    try:
        return _readers()[reader](path)
    finally:
        if marker.exists():
            raise AssertionError(f"CODE EXECUTED: loading {path.name} created {marker.name}")


CK = errors.CheckpointError
for _r in ("info", "load", "model", "resume"):
    case(f"ckpt-evil-{_r}", "checkpoint", lambda c, r=_r: _evil(c, r), expect=CK, match="refus|unsafe",
         kind="code")  # fmt: skip
    case(f"ckpt-evil-raw-{_r}", "checkpoint", lambda c, r=_r: _evil(c, r, raw=True), expect=CK,
         match="refus|unsafe|not a", kind="code")  # fmt: skip
    case(f"ckpt-junk-{_r}", "checkpoint", lambda c, r=_r: _readers()[r](c.junk()), expect=CK,
         match="junk.ckpt")  # fmt: skip
    case(f"ckpt-empty-{_r}", "checkpoint", lambda c, r=_r: _readers()[r](c.junk("empty.ckpt", b"")), expect=CK,
         match="empty")  # fmt: skip
    case(f"ckpt-truncated-{_r}", "checkpoint", lambda c, r=_r: _readers()[r](c.truncated()), expect=CK,
         match="truncated.ckpt")  # fmt: skip
    case(f"ckpt-dict-{_r}", "checkpoint", lambda c, r=_r: _readers()[r](c.saved({"a": 1})), expect=CK,
         match="other.ckpt")  # fmt: skip
    case(f"ckpt-missing-{_r}", "checkpoint", lambda c, r=_r: _readers()[r](c.inputs / "nope.ckpt"),
         expect=FileNotFoundError, match="nope.ckpt")  # fmt: skip
    case(f"ckpt-folder-{_r}", "checkpoint", lambda c, r=_r: _readers()[r](c.inputs), expect=FileNotFoundError,
         match="inputs")  # fmt: skip
case("ckpt-training-to-load_model", "checkpoint", lambda c: _readers()["model"](c.trained()), expect=CK,
     match="load_checkpoint")  # fmt: skip
case("ckpt-modelfile-to-info", "checkpoint", lambda c: _readers()["info"](c.model_file()), expect=CK,
     match="load_model")  # fmt: skip
case("ckpt-modelfile-to-resume", "checkpoint", lambda c: _readers()["resume"](c.model_file()), expect=CK,
     match="load_model")  # fmt: skip
case("ckpt-good-load", "checkpoint", lambda c: _readers()["load"](c.trained()),
     check=lambda r, c: r[1]["name"] == "contrastive" and not r[0].training)  # fmt: skip
case("ckpt-good-model", "checkpoint", lambda c: _readers()["model"](c.model_file()),
     check=lambda r, c: r.name == "contrastive")  # fmt: skip


def _resume_into(c: Ctx, name: str, **overrides: Any) -> Any:
    from xmodal_lab.train import fit

    return fit(
        c.model(name, **overrides), c.world(), max_steps=2, batch_size=4, resume=c.trained(), progress=False
    )


case("resume-other-model", "checkpoint", lambda c: _resume_into(c, "croma"), expect=CK, match="contrastive")
case("resume-other-config", "checkpoint", lambda c: _resume_into(c, "contrastive", embed_dim=48), expect=CK,
     match="embed_dim")  # fmt: skip
case(
    "resume-good",
    "checkpoint",
    lambda c: _resume_into(c, "contrastive"),
    check=lambda r, c: r[1]["steps"] == 2,
)


def _tampered(c: Ctx, source: Any, edit: Callable[[dict], Any], name: str) -> Any:
    """``source`` (a trained checkpoint or a model file) saved again as ``name`` after ``edit`` changed it."""
    ckpt = torch.load(source, weights_only=False)
    edit(ckpt)
    return c.saved(ckpt, name)


def _drop_key(ckpt: dict) -> None:
    state = ckpt["state_dict"]
    del state[next(k for k in state if "norm" not in k)]


def _add_key(ckpt: dict) -> None:
    ckpt["state_dict"]["model.extra.weight" if "xmodal_lab" in ckpt else "extra.weight"] = torch.zeros(3)


def _tampered_safetensors(c: Ctx) -> Any:
    from safetensors import safe_open
    from safetensors.torch import save_file

    from xmodal_lab.models import save_model
    from xmodal_lab.models.io import tensors_sha256

    save_model(c.model(), c.out / "m.safetensors")
    with safe_open(str(c.out / "m.safetensors"), framework="pt") as f:
        header, state = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    state["extra.weight"] = torch.zeros(3)
    header["tensors_sha256"] = tensors_sha256(state)
    save_file(state, c.inputs / "tampered.safetensors", metadata=header)
    return c.inputs / "tampered.safetensors"


for _r, _source in (("model", "model_file"), ("load", "trained"), ("resume", "trained")):
    case(f"ckpt-key-missing-{_r}", "checkpoint", lambda c, r=_r, s=_source: _readers()[r](_tampered(
         c, getattr(c, s)(), _drop_key, "missing_key.ckpt")), expect=CK, match="missing_key.ckpt.*missing")  # fmt: skip
    case(f"ckpt-key-unexpected-{_r}", "checkpoint", lambda c, r=_r, s=_source: _readers()[r](_tampered(
         c, getattr(c, s)(), _add_key, "extra_key.ckpt")), expect=CK, match="extra_key.ckpt.*extra.weight")  # fmt: skip
case("ckpt-key-unexpected-safetensors", "checkpoint", lambda c: _readers()["model"](_tampered_safetensors(c)),
     expect=CK, match="tampered.safetensors.*extra.weight")  # fmt: skip
case("resume-no-optimizer", "checkpoint", lambda c: _readers()["resume"](_tampered(c, c.trained(),
     lambda k: k.pop("optimizer_states"), "no_optim.ckpt")), expect=CK, match="no_optim.ckpt.*optimi")  # fmt: skip


# --- writing: nothing lost, nothing overwritten ---------------------------------------------------------
def _fit(c: Ctx, data=None, **kw: Any) -> Any:
    """``fit`` on a small world; keywords that are fields of ``FitConfig`` go into its ``config``."""
    from xmodal_lab.train import FitConfig, fit

    kw.setdefault("max_steps", 1)
    kw.setdefault("batch_size", 4)
    knobs = {k: kw.pop(k) for k in list(kw) if k in FitConfig.__dataclass_fields__}
    return fit(
        c.model(), c.world() if data is None else data, progress=False, config=FitConfig(**knobs), **kw
    )


class _NoSave:
    """Make Lightning's save a silent no-op, as its atomic save is when the folder is not writable."""

    def __enter__(self):
        import lightning.pytorch as pl

        self.cls, self.orig = pl.Trainer, pl.Trainer.save_checkpoint
        pl.Trainer.save_checkpoint = lambda *a, **k: None
        return self

    def __exit__(self, *exc):
        self.cls.save_checkpoint = self.orig


def _silent_save(c: Ctx, **kw: Any) -> Any:
    with _NoSave():
        return _fit(c, checkpoint=c.out / "lost.ckpt", **kw)


OW = errors.OutputWriteError
case("write-unwritable-fit", "write", lambda c: _fit(c, checkpoint=c.unwritable() / "a.ckpt"), expect=OW,
     match="a_file", kind="lost")  # fmt: skip
case("write-unwritable-every", "write", lambda c: _fit(c, max_steps=2, checkpoint=c.unwritable() / "a.ckpt",
     checkpoint_every=1), expect=OW, match="a_file", kind="lost")  # fmt: skip
case("write-silent-final", "write", lambda c: _silent_save(c), expect=OW, match="lost.ckpt", kind="lost")
case("write-silent-every", "write", lambda c: _silent_save(c, max_steps=2, checkpoint_every=1), expect=OW,
     match="lost-step1.ckpt", kind="lost")  # fmt: skip
case(
    "write-exists", "write", lambda c: _fit(c, checkpoint=c.trained()), expect=FileExistsError, match="exists"
)
case("write-every-no-path", "write", lambda c: _fit(c, checkpoint_every=1), expect=ValueError,
     match="checkpoint_every")  # fmt: skip
case("write-cli-unwritable", "write", lambda c: cli_world(c, out=str(c.unwritable() / "a.ckpt")), expect=CliError,
     match="a_file", kind="lost")  # fmt: skip
case("write-cli-export-unwritable", "write", lambda c: cli_world(c, "--export", str(c.unwritable() / "a.pt")),
     expect=CliError, match="a_file", kind="lost")  # fmt: skip
case("write-cli-silent", "write", lambda c: _cli_silent(c), expect=OW, match="cli.ckpt", kind="lost")
case(
    "write-cli-exists", "write", lambda c: cli_world(c, out=str(c.trained())), expect=CliError, match="exists"
)
case("write-good", "write", lambda c: _fit(c, checkpoint=c.out / "good.ckpt"),
     check=lambda r, c: (c.out / "good.ckpt").stat().st_size > 1000)  # fmt: skip


def _full_disk(c: Ctx, writer: str, name: str) -> None:
    """A full disk (a file-size limit in a child process) under a writer of the evaluation layer."""
    from reliability_helpers import write_on_a_full_disk

    write_on_a_full_disk(c, writer, name)


for _writer, _name in (("embed_raster", "e.tif"), ("embeddings_to_geoparquet", "e.parquet"),
                       ("predict_raster", "p.tif"), ("export_vectors", "v.gpkg"), ("export_vectors", "v.geojson"),
                       ("raster_to_vectors", "c.parquet"), ("raster_to_vectors", "c.gpkg")):  # fmt: skip
    case(f"full-disk-{_writer}-{_name.split('.')[1]}", "disk", lambda c, w=_writer, n=_name: _full_disk(c, w, n),
         expect=OW, match=f"{_name}.*(file-size limit|disk)", kind="lost")  # fmt: skip


def _cli_silent(c: Ctx) -> Any:
    with _NoSave():
        return cli_world(c)


# --- fit arguments and validation data -----------------------------------------------------------------
V, T = ValueError, TypeError
for _name, _value, _exc in (
    ("max_steps", 2.5, T), ("max_steps", True, T), ("max_steps", 0, V), ("max_steps", -3, V),
    ("max_minutes", 0, V), ("max_minutes", float("nan"), V), ("batch_size", 1, V), ("batch_size", 0, V),
    ("batch_size", 2.5, T), ("lr", 0, V), ("lr", -1e-3, V), ("lr", float("inf"), V), ("lr", "0.1", T),
    ("weight_decay", -1, V), ("weight_decay", float("nan"), V), ("grad_clip", -1, V), ("grad_clip", 0, V),
    ("warmup_steps", -5, V), ("warmup_steps", 1.5, T), ("schedule_steps", 0, V), ("val_every", -1, V),
    ("val_every", 0.5, T), ("checkpoint_every", -1, V), ("num_workers", -1, V), ("seed", 1.5, T),
    ("num_nodes", 0, V), ("devices", "abc", V), ("accelerator", "tpu9", V), ("precision", "fp8", V),
    ("devices", 0, V), ("devices", [], V),
):  # fmt: skip
    case(f"fit-{_name}={_value!r}", "fit", lambda c, n=_name, v=_value: _fit(c, **{n: v}), expect=_exc,
         match=_name)  # fmt: skip
case(
    "fit-schedule-short",
    "fit",
    lambda c: _fit(c, max_steps=4, schedule_steps=2),
    expect=V,
    match="schedule_steps",
)
case("fit-no-budget", "fit", lambda c: _fit(c, max_steps=None), expect=V, match="max_steps")
case(
    "fit-empty-data",
    "fit",
    lambda c: _fit(c, data=c.world(1).__class__.__mro__ and []),
    expect=V,
    match="empty",
)
case("fit-one-pair", "fit", lambda c: _fit(c, data=c.world(1)), expect=V, match="1 pair")
case("fit-val-empty", "fit", lambda c: _fit(c, val_data=[]), expect=V, match="val_data")
case("fit-val-one", "fit", lambda c: _fit(c, val_data=c.world(1, seed=1)), expect=V, match="val_data")
case("fit-val-small", "fit", lambda c: _fit(c, val_data=c.world(4, seed=1)), warn=errors.SmallDataWarning,
     match="val_data")  # fmt: skip
case("fit-val-not-dataset", "fit", lambda c: _fit(c, val_data=5), expect=T, match="val_data")
case("fit-data-not-pairs", "fit", lambda c: _fit(c, data=[1, 2, 3, 4]), expect=T, match="pair dict")
case("fit-no-loss-model", "fit", lambda c: __import__("xmodal_lab.train", fromlist=["f"]).fit(
     torch.nn.Linear(2, 2), c.world(), max_steps=1, batch_size=4, progress=False, normalize=False),
     expect=T, match="loss")  # fmt: skip
case("fit-dn-data", "fit", lambda c: _fit(c, data=_DN(c.world())), warn=W, match="digital numbers")
case("fit-linear-s1", "fit", lambda c: _fit(c, data=_DN(c.world(), s1=True)), warn=W, match="linear power")
case("fit-good", "fit", lambda c: _fit(c, max_steps=2), check=lambda r, c: r[1]["steps"] == 2
     and len(r[1]["loss"]) == 2)  # fmt: skip


class _DN(torch.utils.data.Dataset):
    """A world whose S2 is given as digital numbers (x 10000), or whose S1 is linear power."""

    def __init__(self, world, s1: bool = False) -> None:
        self.world, self.s1 = world, s1

    def __len__(self) -> int:
        return len(self.world)

    def __getitem__(self, i: int) -> dict:
        pair = dict(self.world[i])
        if self.s1:
            pair["s1"] = 10 ** (pair["s1"] / 10)
        else:
            pair["s2"] = pair["s2"] * 10000
        return pair


# --- command line ---------------------------------------------------------------------------------------
for _args, _match in (
    (["--set", "embed_dim=abc"], "embed_dim.*int"),
    (["--set", "embed_dim=1.5"], "embed_dim.*int"),
    (["--set", "mask_ratio=high"], "field|mask_ratio"),
    (["--set", "bogus=1"], "bogus"),
    (["--set", "embed_dim"], "FIELD=VALUE"),
    (["--devices", "abc"], "--devices"),
    (["--devices", "0"], "--devices"),
    (["--devices", "-2"], "--devices"),
    (["--accelerator", "tpu9"], "--accelerator"),
    (["--max-steps", "0"], "max.steps"),
    (["--max-steps", "-3"], "max.steps"),
    (["--batch-size", "1"], "batch.size"),
    (["--lr", "-1"], "lr"),
    (["--lr", "nan"], "lr"),
    (["--weight-decay", "-1"], "weight.decay"),
    (["--warmup-steps", "-5"], "warmup.steps"),
    (["--checkpoint-every", "-1"], "checkpoint.every"),
    (["--num-workers", "-1"], "num.workers"),
    (["--val-every", "-1"], "val.every"),
    (["--size", "0"], "--size"),
    (["--n-scenes", "0"], "--n-scenes"),
    (["--val-size", "-1"], "--val-size"),
    (["--val-size", "1"], "val"),
    (["--preset", "huge"], "huge"),
    (["--resume", "/nonexistent/r.ckpt"], "r.ckpt"),
    (["--data", "geotiff"], "--s1"),
    (["--data", "bigearthnet-mm"], "--root"),
    (["--data", "bigearthnet-mm", "--root", "/nonexistent/ben"], "nonexistent"),
    (["--max-minutes", "0"], "max.minutes"),
    (["--precision", "fp8"], "precision"),
):  # fmt: skip
    case(f"cli{'_'.join(_args)}", "cli", lambda c, a=_args: cli_world(c, *a), expect=CliError, match=_match)
case("cli-no-budget", "cli", lambda c: cli(["--model", "contrastive", "--out", str(c.out / "x.ckpt")]),
     expect=CliError, match="max-steps")  # fmt: skip
case("cli-gpu-missing", "cli", lambda c: cli_world(c, "--accelerator", "gpu") if not torch.cuda.is_available()
     else (_ for _ in ()).throw(CliError("no GPU here: --accelerator gpu (skipped)")), expect=CliError,
     match="--accelerator gpu")  # fmt: skip
case(
    "cli-good",
    "cli",
    lambda c: cli_world(c),
    check=lambda r, c: r["steps"] == 1 and (c.out / "cli.ckpt").is_file(),
)


# --- eval -----------------------------------------------------------------------------------------------
def _eval(fn: str, *args: Any, **kw: Any) -> Any:
    import xmodal_lab.eval as ev

    return getattr(ev, fn)(*args, **kw)


E0, E1, E5 = (
    np.zeros((0, 8)),
    np.random.default_rng(0).normal(size=(1, 8)),
    np.random.default_rng(1).normal(size=(5, 8)),
)
case(
    "eval-retrieval-n0", "eval", lambda c: _eval("retrieval_metrics", E0, E0), expect=V, match="empty|N=0|no "
)
case("eval-retrieval-n1", "eval", lambda c: _eval("retrieval_metrics", E1, E1), expect=V, match="at least 2")
case("eval-retrieval-k0", "eval", lambda c: _eval("retrieval_metrics", E5, E5, ks=(0,)), expect=V, match="ks")
case("eval-ranks-n0", "eval", lambda c: _eval("match_ranks", E0, E0), expect=V, match="empty|no ")
case("eval-cosine-empty", "eval", lambda c: _eval("cosine_similarity", E0, E5), expect=V, match="query")
case("eval-cosine-d0", "eval", lambda c: _eval("cosine_similarity", np.zeros((3, 0)), np.zeros((3, 0))),
     expect=V, match="width|D=0|dimension")  # fmt: skip
case(
    "eval-retrieval-nan", "eval", lambda c: _eval("retrieval_metrics", E5 * np.nan, E5), expect=V, match="NaN"
)
case("eval-retrieval-shape", "eval", lambda c: _eval("retrieval_metrics", E5, E5[:4]), expect=V, match="rows")
case(
    "eval-retrieval-good",
    "eval",
    lambda c: _eval("retrieval_metrics", E5, E5),
    check=lambda r, c: r["recall@1"] == 1.0,
)
case("eval-project-d1", "eval", lambda c: _eval("project_2d", E5[:, :1], E5[:, :1], method="pca"), expect=V,
     match="D=1|at least 2")  # fmt: skip
case(
    "eval-project-n1", "eval", lambda c: _eval("project_2d", E1, E1, method="pca"), expect=V, match="at least"
)
case(
    "eval-project-method",
    "eval",
    lambda c: _eval("project_2d", E5, E5, method="tsne"),
    expect=V,
    match="method",
)
case("eval-project-good", "eval", lambda c: _eval("project_2d", E5, E5, method="pca"),
     check=lambda r, c: r["s1"].shape == (5, 2))  # fmt: skip
case("eval-topk-k0", "eval", lambda c: _eval("topk_matches", np.eye(4), 0, k=0), expect=V, match="k")
case("eval-topk-query", "eval", lambda c: _eval("topk_matches", np.eye(4), 2.5), expect=T, match="query")
case("eval-embed-empty", "eval", lambda c: _eval("embed_dataset", c.model(), []), expect=V, match="empty")
case("eval-embed-dn", "eval", lambda c: _eval("embed_dataset", c.model(), _DN(c.world(4))), warn=W,
     match="digital numbers")  # fmt: skip
case("eval-embed-bs0", "eval", lambda c: _eval("embed_dataset", c.model(), c.world(4), batch_size=0), expect=V,
     match="batch_size")  # fmt: skip


# --- data -----------------------------------------------------------------------------------------------
def _crop(size: Any) -> Any:
    from xmodal_lab.data.transforms import PairedRandomCrop

    return PairedRandomCrop(size)


def _world(**kw: Any) -> Any:
    from xmodal_lab.data import SimulatedWorld

    return SimulatedWorld(**kw)


case("data-crop0", "data", lambda c: _crop(0), expect=V, match="size")
case("data-crop-neg", "data", lambda c: _crop(-4), expect=V, match="size")
case("data-crop-float", "data", lambda c: _crop(7.5), expect=T, match="size")
case("data-crop-big", "data", lambda c: _crop(64)(c.world(1)[0]), expect=V, match="does not fit")
case(
    "data-crop-good",
    "data",
    lambda c: _crop(8)(c.world(1)[0]),
    check=lambda r, c: tuple(r["s2"].shape) == (12, 8, 8),
)
case("data-world-float-index", "data", lambda c: c.world(4)[2.7], expect=T, match="index")
case("data-world-str-index", "data", lambda c: c.world(4)["2"], expect=T, match="index")
case("data-world-bool-index", "data", lambda c: c.world(4)[True], expect=T, match="index")
case("data-world-range", "data", lambda c: c.world(4)[4], expect=IndexError, match="out of range")
case(
    "data-world-npint",
    "data",
    lambda c: c.world(4)[np.int64(2)],
    check=lambda r, c: r["s2"].shape[-1] == SIZE,
)
case(
    "data-world-tensor-index",
    "data",
    lambda c: c.world(4)[torch.tensor(1)],
    check=lambda r, c: r["s2"].shape[-1] == SIZE,
)
case("data-world-size0", "data", lambda c: _world(size=0), expect=V, match="size")
case("data-world-nscenes0", "data", lambda c: _world(n_scenes=0), expect=V, match="n_scenes")
case("data-world-size-float", "data", lambda c: _world(size=15.5), expect=T, match="size")
case("data-world-nscenes-float", "data", lambda c: _world(n_scenes=2.5), expect=T, match="n_scenes")


# --- units in the other loaders ---------------------------------------------------------------------------
def _ben(c: Ctx, s1: np.ndarray) -> Any:
    """A one-pair BigEarthNet-MM folder with the given radar ``[2, 32, 32]``; returns its first item."""
    import json

    from xmodal_lab.data import BigEarthNetMM
    from xmodal_lab.data.real_pairs import _S2_SUFFIXES

    s1_name, s2_name = "S1A_IW_GRDH_1SDV_20170613T165043_33UUP_61_39", "S2A_MSIL2A_20170613T101031_61_39"
    d1, d2 = c.inputs / "ben" / "S1" / s1_name, c.inputs / "ben" / "S2" / s2_name
    d1.mkdir(parents=True)
    d2.mkdir(parents=True)
    meta = {"corresponding_s2_patch": s2_name, "labels": ["Mixed forest"], "acquisition_time": "2017-06-13"}
    (d1 / f"{s1_name}_labels_metadata.json").write_text(json.dumps(meta))
    c.tif(f"ben/S1/{s1_name}/{s1_name}_VV.tif", s1[:1])
    c.tif(f"ben/S1/{s1_name}/{s1_name}_VH.tif", s1[1:])
    dn = (s2_reflectance() * 10000).astype(np.uint16)
    for i, suffix in enumerate(_S2_SUFFIXES):
        c.tif(f"ben/S2/{s2_name}/{s2_name}_{suffix}.tif", dn[i : i + 1])
    return BigEarthNetMM(c.inputs / "ben")[0]


class _Adapter:
    """A torchgeo-style adapter whose archive stores S2 as digital numbers it forgot to scale."""

    def __new__(cls):
        from xmodal_lab.data.real_pairs import PairDataset

        class Unscaled(PairDataset):
            def __len__(self) -> int:
                return 2

            def load(self, index: int) -> dict:
                return {"s1": torch.from_numpy(s1_db()), "s2": torch.from_numpy(s2_reflectance() * 10000)}

        return Unscaled()


case("units-ben-db100", "units", lambda c: _ben(c, s1_db() * 100), warn=W, match="x 100")
case("units-ben-linear", "units", lambda c: _ben(c, (10 ** (s1_db() / 10)).astype(np.float32)), warn=W,
     match="linear power")  # fmt: skip
case("units-ben-good", "units", lambda c: _ben(c, s1_db()), check=lambda r, c: r["s2"].shape == (12, 32, 32))
case("units-adapter-dn", "units", lambda c: _Adapter()[0], warn=W, match="digital numbers")


def _split(n: int, val_size: int) -> Any:
    from xmodal_lab.train.__main__ import split

    return split(list(range(n)), val_size)


case("data-split-one-val", "data", lambda c: _split(6, 256), warn=UserWarning, match="too few")
case(
    "data-split-good",
    "data",
    lambda c: _split(100, 10),
    check=lambda r, c: len(r[1]) == 10 and len(r[0]) == 90,
)


# --- logs: each run claims its own folder ---------------------------------------------------------------
def _csv_logger(c: Ctx, version: int = 0) -> Any:
    from lightning.pytorch.loggers import CSVLogger

    run = c.out / "logs" / f"version_{version}"
    run.mkdir(parents=True, exist_ok=True)
    (run / "metrics.csv").write_text("step,loss\n0,1.0\n")  # another run's log
    return CSVLogger(save_dir=str(c.out / "logs"), name="", version=version)


def _two_runs(c: Ctx) -> tuple[Any, Any]:
    return _fit(c, log_dir=c.out / "logs")[1], _fit(c, log_dir=c.out / "logs")[1]


case("log-logger-taken", "log", lambda c: _fit(c, logger=_csv_logger(c)), expect=errors.OutputExistsError,
     match="version_0", kind="lost")  # fmt: skip
case("log-dir-unwritable", "log", lambda c: _fit(c, log_dir=c.unwritable()), expect=OW, match="a_file",
     kind="lost")  # fmt: skip
case("log-cli-unwritable", "log", lambda c: cli_world(c, "--log-dir", str(c.unwritable())), expect=CliError,
     match="a_file", kind="lost")  # fmt: skip
case("log-two-runs", "log", _two_runs, check=lambda r, c: r[0]["log_dir"] != r[1]["log_dir"]
     and (c.out / "logs" / "version_0" / "metrics.csv").read_text().count("\n") >= 2)  # fmt: skip

# --- command line and fit: cluster, strategy, sizes ------------------------------------------------------
for _args, _match in (
    (["--num-nodes", "2"], "--num-nodes"),
    (["--strategy", "bogus"], "--strategy"),
    (["--set", "patch_size=5"], "patch_size"),
    (["--set", "patch_size=0"], "patch_size"),
):  # fmt: skip
    case(f"cli{'_'.join(_args)}", "cli", lambda c, a=_args: cli_world(c, *a), expect=CliError, match=_match)
case("fit-num_nodes=2", "fit", lambda c: _fit(c, num_nodes=2), expect=V, match="num_nodes")
case("fit-strategy=bogus", "fit", lambda c: _fit(c, strategy="bogus"), expect=V, match="strategy")


# --- memory: sizes refused before allocating -------------------------------------------------------------
def _little_memory(megabytes: float) -> Any:
    """Pretend the machine has ``megabytes`` available (psutil), so a small input stands for a big one."""
    from types import SimpleNamespace
    from unittest import mock

    return mock.patch("psutil.virtual_memory", return_value=SimpleNamespace(available=megabytes * 1e6))


def _big_tile(c: Ctx, name: str, side: int, megabytes: float | None = None, train: bool = False) -> Any:
    model, batch = c.model(name), 2 if train else 1
    s1 = torch.full((batch, 2, side, side), -12.0)
    s2 = torch.full((batch, 12, side, side), 0.1)
    with _little_memory(megabytes) if megabytes else __import__("contextlib").nullcontext():
        if train:
            return model({"s1": s1, "s2": s2})
        with torch.no_grad():
            return model.embed(s1=s1)


def _slow_tile(c: Ctx, name: str, side: int) -> Any:
    """A tile that fits in memory but takes minutes on a CPU: the warning, raised here, stops it at once."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.SlowInputWarning)
        return _big_tile(c, name, side)


TOO_BIG = errors.InputTooLargeError
case("mem-croma-4096", "memory", lambda c: _big_tile(c, "croma", 4096), expect=TOO_BIG, match="GB")
case("mem-croma-512-small-machine", "memory", lambda c: _big_tile(c, "croma", 512, megabytes=200),
     expect=TOO_BIG, match="available")  # fmt: skip
case("mem-contrastive-train-small-machine", "memory", lambda c: _big_tile(c, "contrastive", 512, megabytes=30,
     train=True), expect=TOO_BIG, match="tokens")  # fmt: skip
case("slow-contrastive-2048", "memory", lambda c: _slow_tile(c, "contrastive", 2048),
     expect=errors.SlowInputWarning, match="minutes")  # fmt: skip
case("slow-contrastive-64-quiet", "memory", lambda c: _slow_tile(c, "contrastive", 64),
     check=lambda r, c: tuple(r["s1"].shape)[0] == 1)  # fmt: skip
case("mem-croma-fits", "memory", lambda c: _big_tile(c, "croma", 64),
     check=lambda r, c: tuple(r["s1"].shape)[0] == 1)  # fmt: skip


# --- argument types ----------------------------------------------------------------------------------------
def _device(name: Any) -> Any:
    from xmodal_lab.config import get_device

    return get_device(name, verbose=False)


def _no_cuda(fn: Callable[[], Any]) -> Any:
    if torch.cuda.is_available():
        raise errors.InputValueError("device='cuda' (skipped: a GPU is here)")
    return fn()


case("type-device-cuda", "types", lambda c: _no_cuda(lambda: _device("cuda")), expect=V, match="device='cuda'")
case("type-device-bogus", "types", lambda c: _device("gpu0"), expect=V, match="device")
case("type-device-int", "types", lambda c: _device(3.5), expect=T, match="device")
case("type-fit-checkpoint-int", "types", lambda c: _fit(c, checkpoint=123), expect=T, match="checkpoint")
case("type-fit-log-dir-int", "types", lambda c: _fit(c, log_dir=5), expect=T, match="log_dir")
case("type-load-checkpoint-int", "types", lambda c: _readers()["load"](123), expect=T, match="path")


# --- messages that name the real problem ------------------------------------------------------------------
def _save_model(c: Ctx, path: Any, **kw: Any) -> Any:
    from xmodal_lab.models import save_model

    return save_model(c.model(), path, **kw)


PERCENT = (s2_reflectance() * 100).astype(np.float32)
case("msg-save-model-empty", "messages", lambda c: _save_model(c, "", overwrite=True), expect=V,
     match="folder")  # fmt: skip
case("msg-save-model-empty-new", "messages", lambda c: _save_model(c, ""), expect=V, match="folder")
case("msg-percent-raster", "messages", lambda c: _raster(c, s2=PERCENT), warn=W, match="percent")
case("msg-percent-fn", "messages", lambda c: _units("check_s2", torch.from_numpy(PERCENT)), warn=W,
     match="s2_scale=0.01")  # fmt: skip
case("msg-percent-int16", "messages", lambda c: _units("check_s2", PERCENT.astype(np.int16)), warn=W,
     match="percent")  # fmt: skip


# --- rasters: odd files, grids, dtypes and fills ----------------------------------------------------------
def _write(c: Ctx, name: str, data: np.ndarray, crs: str = "EPSG:32632", transform: Any = None,
           **profile: Any) -> Any:  # fmt: skip
    import rasterio
    from rasterio.transform import from_origin

    path = c.inputs / name
    transform = transform if transform is not None else from_origin(500000.0, 5000000.0, 10.0, 10.0)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype.name, crs=crs, transform=transform, **profile) as dst:  # fmt: skip
        dst.write(data)
    return path


def _pair_of(c: Ctx, s1: Any = None, s2: Any = None, **kw: Any) -> Any:
    from xmodal_lab.data import PairedRasterDataset

    s1 = s1 if s1 is not None else c.tif("s1.tif", s1_db())
    s2 = s2 if s2 is not None else c.tif("s2.tif", (s2_reflectance() * 10000).astype(np.uint16))
    return PairedRasterDataset(s1, s2, size=SIZE, **kw)


def _corrupt(c: Ctx) -> Any:
    """A tiled, deflate-compressed optical file whose first block's compressed bytes are overwritten."""
    import rasterio

    path = _write(c, "s2_bad.tif", (s2_reflectance() * 10000).astype(np.uint16), tiled=True, blockxsize=16,
                  blockysize=16, compress="deflate")  # fmt: skip
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_0_0", "TIFF", bidx=1))
    data = bytearray(path.read_bytes())
    data[offset : offset + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    return _pair_of(c, s2=path)


def _with_block(x: np.ndarray, value: float) -> np.ndarray:
    x = x.copy()
    x[:, 20:28, 20:28] = value
    return x


def _rotated() -> Any:
    from affine import Affine

    return Affine.translation(500000.0, 5000000.0) @ Affine.rotation(20.0) @ Affine.scale(10.0, -10.0)


def _degrees() -> Any:
    from rasterio.transform import from_origin

    return from_origin(9.0, 45.0, 1e-4, 1e-4)


DN16 = (s2_reflectance() * 10000).astype(np.uint16)
RASTER_S1 = "s1.tif"
case("file-folder", "files", lambda c: _pair_of(c, s2=c.inputs), expect=FileNotFoundError, match="a folder")
case("file-empty", "files", lambda c: _pair_of(c, s2=c.junk("s2.tif", b"")), expect=V, match="empty")
case("file-text", "files", lambda c: _pair_of(c, s2=c.junk("s2.tif", b"hello, not an image\n" * 40)),
     expect=V, match="not a readable")  # fmt: skip
case("file-truncated", "files", lambda c: _pair_of(c, s2=c.junk("s2_cut.tif", c.tif("s2.tif", DN16)
     .read_bytes()[:3000])), expect=V, match="s2_cut.tif")  # fmt: skip
case("file-path-int", "files", lambda c: _pair_of(c, s2=5), expect=T, match="file path")
case("file-corrupt-block", "files", _corrupt, expect=V, match="s2_bad.tif.*(window|whole)")
case("grid-rotated", "grids", lambda c: _pair_of(c, s1=_write(c, "s1r.tif", s1_db(), transform=_rotated()),
     s2=_write(c, "s2r.tif", DN16, transform=_rotated())), expect=V, match="rotated")  # fmt: skip
case("grid-degrees", "grids", lambda c: _pair_of(c, s1=_write(c, "s1d.tif", s1_db(), "EPSG:4326", _degrees()),
     s2=_write(c, "s2d.tif", DN16, "EPSG:4326", _degrees())), expect=V, match="degrees.*EPSG:326")  # fmt: skip
case("dtype-s2-uint8", "dtypes", lambda c: _pair_of(c, s2=c.tif("s2.tif", (s2_reflectance() * 255)
     .astype(np.uint8))), warn=W, match="8-bit")  # fmt: skip
case("fill-s2-int16", "dtypes", lambda c: _pair_of(c, s2=c.tif("s2.tif", _with_block(DN16.astype(np.int16),
     -9999))), expect=V, match="-9999")  # fmt: skip
case("fill-s1-9999", "dtypes", lambda c: _pair_of(c, s1=c.tif("s1.tif", _with_block(s1_db(), -9999))),
     expect=V, match="-9999")  # fmt: skip
case("fill-s2-zero-block", "dtypes", lambda c: _pair_of(c, s2=c.tif("s2.tif", _with_block(DN16, 0))),
     warn=errors.NodataWarning, match="0 in every band")  # fmt: skip
case("fill-s2-zero-tile-dropped", "dtypes", lambda c: _quiet_nodata(lambda: _pair_of(c, s2=c.tif("s2.tif",
     _with_block(DN16, 0)), max_nodata=0.0)), check=lambda d, c: (16, 16) not in d.windows and len(d) == 3)  # fmt: skip


def _quiet_nodata(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", errors.NodataWarning)
        return fn()


def _floods(c: Ctx, s1: np.ndarray, s2: np.ndarray) -> Any:
    from xmodal_lab.data.floods import Sen1Floods11

    root = c.inputs / "floods"
    for sub in ("S1Hand", "S2Hand", "LabelHand"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    c.tif("floods/S1Hand/chip_S1Hand.tif", s1)
    c.tif("floods/S2Hand/chip_S2Hand.tif", s2)
    c.tif("floods/LabelHand/chip_LabelHand.tif", np.zeros((1, 32, 32), np.int16))
    return Sen1Floods11(root)[0]


REFL13 = np.concatenate([s2_reflectance(), s2_reflectance()[:1]])
case("floods-s2-reflectance", "floods", lambda c: _floods(c, s1_db(), REFL13),
     check=lambda r, c: abs(float(r["s2"].mean()) - float(REFL13[np.arange(13) != 10].mean())) < 1e-3)  # fmt: skip
case("floods-s2-dn", "floods", lambda c: _floods(c, s1_db(), REFL13 * 10000),
     check=lambda r, c: abs(float(r["s2"].mean()) - float(REFL13[np.arange(13) != 10].mean())) < 1e-3)  # fmt: skip
case("floods-s1-linear", "floods", lambda c: _floods(c, (10 ** (s1_db() / 10)).astype(np.float32), REFL13),
     warn=W, match="linear power")  # fmt: skip


def _sam(image: Any = None) -> Any:
    from xmodal_lab.segment import SamSegmenter, build_sam

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seg = SamSegmenter(build_sam(device="cpu"))
    return seg.set_image(np.full((64, 48, 3), 120, np.uint8) if image is None else image)


def _half_nan() -> np.ndarray:
    x = s2_reflectance(32, 32)
    x[:, :, :12] = np.nan
    return x


case("sam-box-outside", "sam", lambda c: _sam().box((10, 10, 60, 40)), expect=V, match="outside")
case("sam-box-negative", "sam", lambda c: _sam().box((-5, 0, 20, 20)), expect=V, match="outside")
case("sam-partly-nan", "sam", lambda c: _sam(_half_nan()), warn=errors.NodataWarning, match="NaN")


def _linear_s1() -> np.ndarray:
    return (10 ** (s1_db() / 10)).astype(np.float32)


IV = errors.InputValueError


def _persam(reference: np.ndarray, target: np.ndarray) -> Any:
    from xmodal_lab.segment import persam

    mask = np.zeros(reference.shape[-2:], bool)
    mask[8:20, 8:20] = True
    return persam(_sam(), reference, mask, target)


def _sam_checkpoint(c: Ctx, edit: Callable[[dict], Any]) -> Any:
    """``build_sam`` on a tiny SAM's weights after ``edit`` changed them."""
    from xmodal_lab.segment import build_sam
    from xmodal_lab.segment.checkpoints import build_sam_arch

    state = build_sam_arch("tiny").state_dict()
    edit(state)
    return build_sam(c.saved(state, "sam_edited.pth"), model_type="tiny", device="cpu")


case("sam-ckpt-key-missing", "sam", lambda c: _sam_checkpoint(c, lambda s: s.pop("mask_decoder.iou_token.weight")),
     expect=CK, match="sam_edited.pth.*missing.*iou_token")  # fmt: skip
case("sam-ckpt-key-unexpected", "sam", lambda c: _sam_checkpoint(c, lambda s: s.update(extra=torch.zeros(1))),
     expect=CK, match="sam_edited.pth.*unexpected.*extra")  # fmt: skip
case("sam-s1-linear", "sam", lambda c: _sam(_linear_s1()), warn=W, match="linear power")
case("persam-s1-linear", "sam", lambda c: _persam(_linear_s1(), s1_db()), warn=W, match="linear power")
case("persam-s1-reference-s2-target", "sam", lambda c: _persam(s1_db(), s2_reflectance()), expect=IV,
     match="Sentinel-1.*Sentinel-2")  # fmt: skip
case("persam-s2-reference-s1-target", "sam", lambda c: _persam(s2_reflectance(), s1_db()), expect=IV,
     match="Sentinel-2.*Sentinel-1")  # fmt: skip
case("data-world-nscenes-huge", "data", lambda c: _world(n_scenes=10**19), expect=V, match="n_scenes")
case("data-world-nscenes-1e19", "data", lambda c: _world(n_scenes=1e19), expect=T, match="n_scenes")
case("type-embed-device-cuda", "types", lambda c: _no_cuda(lambda: _eval("embed_dataset", c.model(), c.world(4),
     device="cuda")), expect=V, match="device='cuda'")  # fmt: skip
case("type-load-model-int", "types", lambda c: _readers()["model"](123), expect=T, match="path")
