"""Nothing lost: a killed writer, a full disk, a read-only folder or a race never leaves a wrong file under its name.

Writers run in child processes where the failure is real (SIGKILL, ``RLIMIT_FSIZE``, another user).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from reliability_helpers import CHILD, EVAL_WRITERS, Ctx, eval_inputs

import xmodal_lab
from xmodal_lab.errors import OutputExistsError, OutputWriteError
from xmodal_lab.files import claim, publish, publishing
from xmodal_lab.models import build, load_model, save_model
from xmodal_lab.train import FitConfig, fit
from xmodal_lab.train.checkpoint import read_checkpoint

ROOT = str(Path(xmodal_lab.__file__).resolve().parents[1])  # this checkout, not an installed copy


WRITERS = {
    "bytes": "    from xmodal_lab.files import publish\n"
    "    publish(path, lambda tmp: tmp.write_bytes(b'x' * 4_000_000))",
    "save_model": "    from xmodal_lab.models import build, save_model\n"
    "    save_model(build('contrastive', 'tiny', img_size=16), path)",
    "fit": "    from xmodal_lab.data import SimulatedWorld\n"
    "    from xmodal_lab.models import build\n"
    "    from xmodal_lab.train import fit\n"
    "    fit(build('contrastive', 'tiny', img_size=16), SimulatedWorld(seed=0, size=16, n_scenes=8), max_steps=1,\n"
    "        batch_size=4, progress=False, checkpoint=path)",
    "geotiff": textwrap.indent(
        textwrap.dedent("""
        import numpy as np
        from affine import Affine
        from xmodal_lab.data import write_pair_geotiffs
        rng = np.random.default_rng(0)
        pair = {"s1": rng.normal(-10, 3, (2, 64, 64)), "s2": rng.uniform(0, 0.3, (12, 64, 64)),
                "crs": "EPSG:32632", "transform": Affine(10, 0, 5e5, 0, -10, 5e6)}
        write_pair_geotiffs(pair, path.parent, path.stem)
        """),
        "    ",
    ),
}

WRITERS.update(EVAL_WRITERS)


def _child(writer: str, path: Path, limit: int = 0, prefix: tuple[str, ...] = ()) -> dict:
    script = CHILD.format(body=WRITERS[writer])
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*prefix, sys.executable, "-c", script, str(limit), writer, str(path)],
                          capture_output=True, text=True, env=env, cwd="/", timeout=300)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"the child printed no outcome:\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1])


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_killed_writer_leaves_nothing_under_the_final_name(tmp_path):
    path = tmp_path / "model.pt"
    script = textwrap.dedent(f"""
        import time
        from xmodal_lab.files import publishing
        with publishing({str(path)!r}) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"half a file" * 1000)
                f.flush()
                print("writing", flush=True)
                time.sleep(120)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": ROOT})  # fmt: skip
    assert child.stdout.readline().strip() == "writing"
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    assert not path.exists()
    left = _leftovers(tmp_path)
    assert len(left) == 1 and left[0].startswith(".model.tmp-"), left  # hidden, never under the final name
    publish(path, lambda tmp: tmp.write_bytes(b"whole"))  # the leftover does not block the next writer
    assert path.read_bytes() == b"whole"


def test_a_killed_run_leaves_no_stale_claim(tmp_path):
    path = tmp_path / "run.ckpt"
    script = f"import time\nfrom xmodal_lab.files import claim\nwith claim({str(path)!r}):\n"
    script += "    print('claimed', flush=True)\n    time.sleep(120)\n"
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": ROOT})  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "claimed"
        with pytest.raises(OutputExistsError, match="another run"), claim(path):
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    with claim(path):  # the lock died with its process
        assert not path.exists()
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("writer", ["bytes", "save_model", "fit", "geotiff"])
def test_a_full_disk_raises_and_publishes_nothing(tmp_path, writer):
    path = tmp_path / {"geotiff": "x.tif", "fit": "x.ckpt"}.get(writer, "x.pt")
    out = _child(writer, path, limit=20_000)
    print(writer, out)
    assert not out["ok"] and out["type"] == "OutputWriteError", out
    assert str(path.stem) in out["message"]
    if writer != "geotiff":  # GDAL reports the short file when reading it back, not the errno
        assert out["errno"] == errno.EFBIG and "larger than this system allows" in out["message"]
    assert _leftovers(tmp_path) == []  # nothing under a final name, no temporary file either
    if writer != "fit":  # (slow) the same writer without the limit succeeds: the limit was the cause
        assert _child(writer, path)["ok"]
        written = path.with_name("x_S2.tif") if writer == "geotiff" else path
        assert written.stat().st_size > 20_000


@pytest.mark.parametrize(
    "writer, name",
    [("embed_raster", "x.tif"), ("embeddings_to_geoparquet", "x.parquet"), ("predict_raster", "x.tif"),
     ("export_vectors", "x.gpkg"), ("export_vectors", "x.geojson"), ("raster_to_vectors", "x.parquet"),
     ("raster_to_vectors", "x.gpkg")],
)  # fmt: skip
def test_a_full_disk_under_an_eval_writer_raises_and_publishes_nothing(tmp_path, writer, name):
    eval_inputs(tmp_path)
    folder = tmp_path / "results"
    folder.mkdir()
    path = folder / name
    out = _child(writer, path, limit=1_000)
    assert not out["ok"] and out["type"] == "OutputWriteError", out
    assert path.name in out["message"], out
    assert _leftovers(folder) == []  # nothing under the final name, no temporary file either
    assert _child(writer, path)["ok"]  # the same writer without the limit succeeds: the limit was the cause
    assert path.stat().st_size > 1_000


@pytest.mark.parametrize("name", ["a.gpkg", "a[1].gpkg"])
def test_a_drivers_companion_files_go_with_the_temporary_one(tmp_path, name):
    def write(tmp):
        tmp.write_bytes(b"page")
        tmp.with_name(tmp.name + "-journal").write_bytes(b"journal")  # as SQLite leaves it when a write fails
        raise RuntimeError("the driver failed")

    with pytest.raises(RuntimeError, match="driver"):
        publish(tmp_path / name, write)
    assert _leftovers(tmp_path) == []


def test_without_hard_links_the_name_is_still_claimed_first(tmp_path, monkeypatch):
    def no_links(*args):
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)  # some file systems (FAT, a few network mounts)
    publish(tmp_path / "a.bin", lambda tmp: tmp.write_bytes(b"a"))
    assert (tmp_path / "a.bin").read_bytes() == b"a"
    with pytest.raises(OutputExistsError, match="appeared while writing"), publishing(tmp_path / "b.bin") as tmp:
        tmp.write_bytes(b"mine")
        (tmp_path / "b.bin").write_bytes(b"theirs")
    assert (tmp_path / "b.bin").read_bytes() == b"theirs" and _leftovers(tmp_path) == ["a.bin", "b.bin"]


def test_a_read_only_folder_is_refused_with_its_cause():
    if os.geteuid() != 0:
        prefix: tuple[str, ...] = ()
    elif shutil.which("setpriv"):
        prefix = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups")
    else:
        pytest.skip("running as root (who may write anywhere) and setpriv is missing to run as another user")
    folder = Path(tempfile.mkdtemp(prefix="xmodal_ro_"))  # under /tmp, reachable by another user
    try:
        folder.chmod(0o555)
        out = _child("bytes", folder / "x.pt", prefix=prefix)
        assert not out["ok"] and out["type"] == "OutputWriteError", out
        assert out["errno"] == errno.EACCES and "no permission" in out["message"] and "x.pt" in out["message"]
        assert _leftovers(folder) == []
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)


def test_a_parent_that_is_a_file_is_named():
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "a_file").write_text("not a folder")
        with pytest.raises(OutputWriteError, match="not a folder") as info:
            publish(Path(d) / "a_file" / "x.pt", lambda tmp: tmp.write_bytes(b"x"))
        assert info.value.errno == errno.ENOTDIR
        with pytest.raises(OutputWriteError, match="a_file"):
            save_model(build("contrastive", "tiny", img_size=16), Path(d) / "a_file" / "sub" / "x.pt")


def test_two_writers_racing_for_one_name_one_wins_whole(tmp_path):
    path = tmp_path / "race.bin"
    both_written = threading.Barrier(2)
    outcome: dict[int, BaseException | None] = {}

    def writer(k: int) -> None:
        try:
            with publishing(path) as tmp:
                tmp.write_bytes(bytes([k]) * 1_000_000)
                both_written.wait(timeout=30)  # both passed every check: only the link decides
            outcome[k] = None
        except BaseException as error:  # noqa: BLE001 - recorded and asserted below
            outcome[k] = error

    threads = [threading.Thread(target=writer, args=(k,)) for k in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [k for k, e in outcome.items() if e is None]
    losers = [e for e in outcome.values() if e is not None]
    assert len(winners) == 1 and len(losers) == 1, outcome
    assert isinstance(losers[0], OutputExistsError) and isinstance(losers[0], FileExistsError)
    assert path.read_bytes() == bytes(winners) * 1_000_000  # whole, one writer's bytes only
    assert _leftovers(tmp_path) == ["race.bin"]


def test_ctrl_c_while_writing_leaves_nothing(tmp_path):
    path = tmp_path / "x.pt"
    with pytest.raises(KeyboardInterrupt), publishing(path) as tmp:
        torch.save({"w": torch.zeros(10)}, tmp)
        raise KeyboardInterrupt
    assert _leftovers(tmp_path) == []


def test_save_model_overwrite_replaces_in_one_step(tmp_path):
    path = tmp_path / "m.pt"
    save_model(build("contrastive", "tiny", img_size=16), path)
    with pytest.raises(OutputExistsError, match="overwrite=True"):
        save_model(build("contrastive", "tiny", img_size=16), path)
    save_model(build("contrastive", "tiny", img_size=16, embed_dim=32, num_heads=2), path, overwrite=True)
    assert load_model(path).config.embed_dim == 32 and _leftovers(tmp_path) == ["m.pt"]


class _UserWritesAt(Callback):
    """A user (or another program) creates ``path`` after the first step."""

    def __init__(self, path: Path) -> None:
        self.path, self.steps = path, 0

    def on_train_batch_end(self, *args) -> None:
        self.steps += 1
        if self.steps == 1:
            self.path.write_bytes(b"the user's own file")


def test_a_file_appearing_at_the_checkpoint_during_fit_is_kept(tmp_path):
    ctx, path = Ctx(tmp_path / "ctx"), tmp_path / "run.ckpt"
    user = _UserWritesAt(path)
    with pytest.raises(OutputExistsError, match="appeared while writing") as info:
        fit(ctx.model(), ctx.world(), max_steps=3, batch_size=4, progress=False, checkpoint=path,
            config=FitConfig(callbacks=[user]))  # fmt: skip
    assert user.steps == 3  # it trained, then refused to publish
    assert path.read_bytes() == b"the user's own file"
    kept = [p for p in tmp_path.iterdir() if p.name.startswith(".run.tmp-")]
    assert len(kept) == 1 and str(kept[0]) in str(info.value)  # the trained run is not lost
    assert read_checkpoint(kept[0])["global_step"] == 3
    assert not (tmp_path / "run.ckpt.lock").exists()


def test_a_second_run_on_a_claimed_checkpoint_is_refused_before_training(tmp_path):
    ctx, path = Ctx(tmp_path / "ctx"), tmp_path / "run.ckpt"
    user = _UserWritesAt(tmp_path / "never.txt")
    with claim(path), pytest.raises(OutputExistsError, match="another run"):
        fit(ctx.model(), ctx.world(), max_steps=2, batch_size=4, progress=False, checkpoint=path,
            config=FitConfig(callbacks=[user]))  # fmt: skip
    assert user.steps == 0 and not path.exists()
    fit(ctx.model(), ctx.world(), max_steps=1, batch_size=4, progress=False, checkpoint=path)
    assert read_checkpoint(path)["global_step"] == 1 and sorted(_leftovers(tmp_path)) == ["ctx", "run.ckpt"]


def test_runs_never_share_a_log_folder(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from xmodal_lab.train.loggers import claim_version

    with ThreadPoolExecutor(8) as pool:  # eight runs starting at once in one log folder
        versions = list(pool.map(lambda _: claim_version(tmp_path), range(8)))
    assert sorted(versions) == list(range(8))
    monkeypatch.setattr(Path, "glob", lambda self, pattern: iter(()))  # a listing made before a rival's claim
    assert claim_version(tmp_path) == 8
