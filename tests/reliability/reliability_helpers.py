"""Generated inputs for the bad-input suite: tiny GeoTIFF pairs, tiny models, crafted checkpoints.

A plain module (not a conftest) so that ``scripts/reliability_probe.py`` can use it outside pytest.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

SIZE = 16  # tile and model image side in pixels


class CliError(Exception):
    """The command line exited with an argparse error (code 2); the message is what it printed."""


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def s1_db(h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """Plausible VV, VH backscatter in dB ``[2, h, w]``."""
    rng = np.random.default_rng(seed)
    vv = rng.uniform(-18.0, -6.0, (h, w))
    return np.stack([vv, vv - 7.0]).astype(np.float32)


def s2_reflectance(h: int = 32, w: int = 32, seed: int = 0, dark: bool = True) -> np.ndarray:
    """Plausible surface reflectance ``[12, h, w]`` (with a dark-water corner when ``dark``)."""
    rng = np.random.default_rng(seed + 1)
    x = rng.uniform(0.03, 0.35, (12, h, w)).astype(np.float32)
    if dark:
        x[:, : h // 4, : w // 4] = rng.uniform(0.0, 0.02, (12, h // 4, w // 4))
    return x


@dataclass
class Ctx:
    """Where a case writes its inputs (``inputs/``, hashed before and after) and its outputs (``out/``)."""

    root: Path
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inputs = self.root / "inputs"
        self.out = self.root / "out"
        self.inputs.mkdir(parents=True, exist_ok=True)
        self.out.mkdir(parents=True, exist_ok=True)

    # --- rasters ----------------------------------------------------------------------------------------
    def tif(self, name: str, data: np.ndarray, crs: str | None = "EPSG:32632", **tags: str) -> Path:
        """Write ``data [C, H, W]`` as a GeoTIFF of 10 m pixels under ``inputs/``."""
        import rasterio
        from rasterio.transform import from_origin

        path = self.inputs / name
        profile = dict(
            driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
            dtype=data.dtype.name, transform=from_origin(500000.0, 5000000.0, 10.0, 10.0),
        )  # fmt: skip
        if crs is not None:
            profile["crs"] = crs
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data)
            if tags:
                dst.update_tags(**tags)
        return path

    def pair(
        self, s1: np.ndarray | None = None, s2: np.ndarray | None = None, tag: str = "", **s2_tags: str
    ) -> tuple[Path, Path]:
        """A co-registered pair (defaults: dB radar and uint16 L2A digital numbers, 32 x 32 px)."""
        s1 = s1_db() if s1 is None else s1
        s2 = (s2_reflectance() * 10000).astype(np.uint16) if s2 is None else s2
        return self.tif(f"s1{tag}.tif", s1), self.tif(f"s2{tag}.tif", s2, **s2_tags)

    # --- models, data and checkpoints -----------------------------------------------------------------
    def world(self, n: int = 8, seed: int = 0):
        """A small simulated world of ``SIZE`` px tiles."""
        from xmodal_lab.data import SimulatedWorld

        return SimulatedWorld(seed=seed, size=SIZE, n_scenes=n)

    def model(self, name: str = "contrastive", **overrides: Any) -> torch.nn.Module:
        """A tiny model for ``SIZE`` px tiles, seeded."""
        from xmodal_lab.config import seed_everything
        from xmodal_lab.models import build

        seed_everything(0)
        return build(name, "tiny", img_size=SIZE, **overrides)

    def trained(self, name: str = "contrastive") -> Path:
        """A training checkpoint of 1 step, written once per context under ``inputs/``."""
        path = self.inputs / f"trained_{name}.ckpt"
        if not path.exists():
            from xmodal_lab.train import fit

            fit(self.model(name), self.world(), max_steps=1, batch_size=4, checkpoint=path, progress=False)
        return path

    def model_file(self) -> Path:
        """A model file written by ``save_model``."""
        from xmodal_lab.models import save_model

        path = self.inputs / "model.pt"
        if not path.exists():
            save_model(self.model(), path)
        return path

    def malicious(self) -> tuple[Path, Path]:
        """A ``.ckpt`` whose unpickling would create ``marker`` (it runs ``os.system``-free ``open``)."""
        marker = self.out / "pwned.txt"

        class Exploit:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        path = self.inputs / "evil.ckpt"
        buffer = io.BytesIO()
        torch.save({"xmodal_lab": {"name": "contrastive"}, "state_dict": {}, "x": Exploit()}, buffer)
        path.write_bytes(buffer.getvalue())
        return path, marker

    def raw_pickle(self) -> tuple[Path, Path]:
        """A plain pickle (not torch's zip format) that would create ``marker`` on load."""
        marker = self.out / "pwned_raw.txt"

        class Exploit:
            def __reduce__(self):
                return (open, (str(marker), "w"))

        path = self.inputs / "evil_raw.ckpt"
        path.write_bytes(pickle.dumps(Exploit()))
        return path, marker

    def junk(self, name: str = "junk.ckpt", content: bytes = b"not a checkpoint at all\n" * 10) -> Path:
        """A file of arbitrary bytes."""
        path = self.inputs / name
        path.write_bytes(content)
        return path

    def saved(self, obj: Any, name: str = "other.ckpt") -> Path:
        """``torch.save(obj)`` under ``inputs/``."""
        path = self.inputs / name
        torch.save(obj, path)
        return path

    def truncated(self) -> Path:
        """The first half of a real training checkpoint."""
        data = self.trained().read_bytes()
        return self.junk("truncated.ckpt", data[: len(data) // 2])

    def unwritable(self) -> Path:
        """A folder path that cannot be created (its parent is a file), for root and other users alike."""
        blocker = self.out / "a_file"
        blocker.write_text("x")
        return blocker / "sub"


def cli(argv: list[str]) -> Any:
    """Run ``python -m xmodal_lab.train`` in-process; an argparse exit becomes :class:`CliError`."""
    from xmodal_lab.train.__main__ import main

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return main(argv)
    except SystemExit as exit_:
        if exit_.code == 2:
            raise CliError(err.getvalue()) from None
        raise


WORLD_ARGS = ["--data", "world", "--size", "16", "--n-scenes", "16", "--val-size", "20", "--batch-size", "4"]


def cli_world(ctx: Ctx, *extra: str, out: str | None = None) -> Any:
    """The command line on a small world, writing to ``out/`` unless ``--out`` is in ``extra``."""
    args = ["--model", "contrastive", *WORLD_ARGS, "--max-steps", "1", "--no-progress", *extra]
    if "--out" not in extra:
        args += ["--out", out or str(ctx.out / "cli.ckpt")]
    return cli(args)


# Run in a child: ``limit`` caps its file size (SIGXFSZ ignored, so a write fails with EFBIG like a full disk);
# the outcome is printed as JSON.
CHILD = """
import json, resource, signal, sys
from pathlib import Path
limit, what, path = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
try:
{body}
    out = {{"ok": True}}
except Exception as e:
    out = {{"ok": False, "type": type(e).__name__, "errno": getattr(e, "errno", None), "message": str(e)}}
print(json.dumps(out), flush=True)
"""

# Writers of the evaluation layer: their inputs lie in ``inputs/`` beside the output's folder (see eval_inputs).
_EMBED = (
    "    from xmodal_lab.eval import embed_raster\n"
    "    from xmodal_lab.models import build\n"
    "    inputs = path.parent.parent / 'inputs'\n"
    "    tiles = embed_raster(build('contrastive', 'tiny', img_size=16), inputs / 's1.tif', inputs / 's2.tif',\n"
    "                         {out}, tile=16, progress=False)\n"
)
_FEATURES = (
    "    from xmodal_lab.eval import export_vectors\n"
    "    square = lambda x: [[x, 0], [x + 9, 0], [x + 9, 9], [x, 9], [x, 0]]\n"
    "    features = [{'type': 'Feature', 'properties': {'id': i},\n"
    "                 'geometry': {'type': 'Polygon', 'coordinates': [square(500000 + 10 * i)]}} for i in range(60)]\n"
    "    export_vectors({'type': 'FeatureCollection', 'crs': 'EPSG:32632', 'features': features}, path)"
)
EVAL_WRITERS = {
    "embed_raster": _EMBED.format(out="path"),
    "embeddings_to_geoparquet": _EMBED.format(out="None")
    + "    from xmodal_lab.eval import embeddings_to_geoparquet\n    embeddings_to_geoparquet(tiles, path)",
    "predict_raster": "    import torch\n"
    "    from xmodal_lab.eval import predict_raster\n"
    "    inputs = path.parent.parent / 'inputs'\n"
    "    predict_raster(lambda b: torch.zeros(b['s1'].shape[0], 2, 16, 16), inputs / 's1.tif', inputs / 's2.tif',\n"
    "                   path, tile=16, overlap=4)",
    "export_vectors": _FEATURES,
    "raster_to_vectors": "    from xmodal_lab.eval import raster_to_vectors\n"
    "    raster_to_vectors(path.parent.parent / 'inputs' / 'labels.tif', path)",
}


def eval_inputs(root: Path) -> Ctx:
    """A 64 px pair and a label raster of many small regions under ``root / "inputs"``, for EVAL_WRITERS."""
    ctx = Ctx(root)
    ctx.pair(s1_db(64, 64), (s2_reflectance(64, 64) * 10000).astype(np.uint16))
    ctx.tif("labels.tif", np.random.default_rng(0).integers(0, 3, (1, 64, 64)).astype(np.int16))
    return ctx


def write_on_a_full_disk(ctx: Ctx, writer: str, name: str, limit: int = 1_000) -> None:
    """Run an EVAL_WRITERS ``writer`` into ``out/name`` in a child whose files may not exceed ``limit`` bytes.

    The child's OutputWriteError is raised again here with its message; any other outcome, or a file left in
    ``out/`` (under the final name or a temporary one), raises an AssertionError.
    """
    import json
    import subprocess
    import sys

    import xmodal_lab
    from xmodal_lab.errors import OutputWriteError

    eval_inputs(ctx.root)
    path = ctx.out / name
    env = {**os.environ, "PYTHONPATH": str(Path(xmodal_lab.__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", CHILD.format(body=EVAL_WRITERS[writer]), str(limit), writer,
                           str(path)], capture_output=True, text=True, env=env, cwd="/", timeout=300)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    out = json.loads(lines[-1]) if lines else {"ok": False, "type": "no outcome", "message": done.stderr[-500:]}
    left = sorted(p.name for p in ctx.out.iterdir())
    if left:
        raise AssertionError(f"{writer}: files left behind after a full disk: {left}")
    if out.get("type") != "OutputWriteError":
        raise AssertionError(f"{writer}: expected an OutputWriteError, got {out}")
    raise OutputWriteError(out["message"])


os.environ.setdefault("XMODAL_FAST", "1")
