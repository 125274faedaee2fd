"""Fast mode, folders, seeding and device choice, and a light top-level import."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import xmodal_lab
from xmodal_lab import config


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_fast_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("XMODAL_FAST", value)
    assert config.fast_mode() is expected
    assert config.pick(fast="small", full="big") == ("small" if expected else "big")


def test_folders_are_overridable(monkeypatch, tmp_path):
    monkeypatch.setenv("XMODAL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("XMODAL_DATA_DIR", str(tmp_path / "data"))
    assert config.cache_dir() == tmp_path / "cache" and (tmp_path / "cache").is_dir()
    assert config.data_dir() == tmp_path / "data"


def test_default_data_dir_is_the_repository_data_folder(monkeypatch):
    monkeypatch.delenv("XMODAL_DATA_DIR", raising=False)
    assert config.data_dir() == config.REPO_ROOT / "data"


def test_seed_everything_repeats_random_draws():
    import numpy as np
    import torch

    config.seed_everything(123)
    a = (torch.rand(3), np.random.rand(3))
    config.seed_everything(123)
    b = (torch.rand(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_get_device_says_which(capsys):
    import torch

    device = config.get_device()
    assert device.type in {"cpu", "cuda", "mps"}
    assert "using device" in capsys.readouterr().out
    if not torch.cuda.is_available():
        assert config.get_device(verbose=False).type in {"cpu", "mps"}
    assert config.get_device("cpu", verbose=False) == torch.device("cpu")


def test_import_is_light():
    code = (
        "import sys, xmodal_lab; "
        "heavy = [m for m in ('leafmap', 'umap', 'torch', 'lightning', 'segment_anything') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "", f"import xmodal_lab pulled in heavy modules: {out.strip()}"
    assert xmodal_lab.__version__


def test_release_memory_returns_freed_heap_to_the_system():
    import subprocess
    import sys
    import textwrap

    if not sys.platform.startswith("linux"):
        from xmodal_lab.config import release_memory

        release_memory()  # only collects elsewhere
        return
    # A fresh interpreter with a fixed mmap threshold, so the test process's own heap history cannot decide it.
    child = textwrap.dedent("""
        import numpy as np
        from xmodal_lab.config import release_memory

        def anonymous_mb():
            with open("/proc/self/status") as status:
                return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:")) / 1024

        blocks, kept = [], []
        for _ in range(8_000):  # 1 GB in 125 KB heap blocks, each followed by a kept one
            blocks.append(np.ones(16_000))
            kept.append(np.ones(64))
        del blocks  # freed holes between kept blocks: the allocator keeps them resident (gc.collect alone does too)
        before = anonymous_mb()
        release_memory()
        print(before, anonymous_mb())
    """)
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(4 * 2**20)}
    out = subprocess.run([sys.executable, "-c", child], env=env, capture_output=True, text=True, check=True)
    before, after = map(float, out.stdout.split())
    assert before > 900, f"the freed holes should still be resident before the release ({before:.0f} MiB)"
    assert after < before - 500, f"release_memory handed back only {before - after:.0f} MiB"
