"""Set up the kit inside a Google Colab session; the first code cell of every lesson runs it there, only there.

That cell clones the repository to ``/content/xmodal_lab`` and runs this file in the notebook's own process,
which then:

1. installs the kit with its pinned versions (``constraints.txt``), once per session: a stamp file records
   what was installed, so running the cell again costs nothing. Colab's own notebook stack (the kernel,
   IPython, the Jupyter server and their messaging) is left as Colab ships it: those pins are dropped and
   JupyterLab, which Colab does not use, is not installed;
2. puts the clone on ``sys.path``, so the running kernel imports it without a restart;
3. stops with a clear message when the install replaced a package the kernel had already imported (Colab
   preloads a few): restart the session and run the notebook again, the install is not repeated;
4. chooses the mode: full mode (``XMODAL_FAST=0``) on a GPU runtime, fast mode on a CPU one, unless
   ``XMODAL_FAST`` is already set.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAMP_NAME = ".xmodal_colab_installed"
CONSTRAINTS_NAME = ".xmodal_colab_constraints.txt"
#: Packages Colab's runtime provides and depends on: their pins are not applied there.
COLAB_OWNS = frozenset(
    "ipykernel ipython ipython-pygments-lexers jupyter-client jupyter-core jupyter-server notebook tornado "
    "traitlets pyzmq comm debugpy prompt-toolkit matplotlib-inline".split()
)
#: Dependencies of the kit that a Colab session does not need.
NOT_ON_COLAB = frozenset({"jupyterlab"})


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


class RestartNeeded(RuntimeError):
    """The install replaced packages that the running kernel had already imported."""


def install_key(root: Path) -> str:
    """A digest of what the install depends on (pyproject.toml and constraints.txt)."""
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "constraints.txt"):
        digest.update((root / name).read_bytes())
    return digest.hexdigest()


def _versions() -> dict[str, str]:
    return {(d.metadata["Name"] or "").lower(): d.version for d in metadata.distributions()}


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def install(root: Path = ROOT, run: Callable[..., object] = subprocess.run) -> list[str]:
    """Install the kit from ``root`` unless the stamp says it is current.

    Args:
        root: the repository clone.
        run: runs the two pip commands (``subprocess.run``'s signature; tests pass a recorder).

    Returns:
        The imported modules whose distributions the install changed (empty: no restart needed, or nothing
        was installed).
    """
    stamp = root / STAMP_NAME
    key = install_key(root)
    if stamp.exists() and stamp.read_text() == key:
        return []
    before = _versions()
    print("xmodal_lab: installing the kit and its pinned versions (a few minutes, once per session)...")
    pins = (root / "constraints.txt").read_text().splitlines()
    constraints = root / CONSTRAINTS_NAME
    _write_atomically(constraints, "\n".join(p for p in pins if _name(p) not in COLAB_OWNS) + "\n")
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    needs = [d for d in project["dependencies"] if _name(d) not in NOT_ON_COLAB]
    pip = [sys.executable, "-m", "pip", "install", "--quiet"]
    run([*pip, "-c", str(constraints), *needs], check=True)
    run([*pip, "--no-deps", "-e", str(root)], check=True)
    importlib.invalidate_caches()
    after = _versions()
    changed = {name for name, version in before.items() if after.get(name, version) != version}
    owners = metadata.packages_distributions()
    loaded = sorted(
        module
        for module in {m.split(".")[0] for m in list(sys.modules)}
        if any(d.lower() in changed for d in owners.get(module, []))
    )
    _write_atomically(stamp, key)
    return loaded


def choose_mode(cuda_available: bool, environ: dict[str, str] | os._Environ = os.environ) -> str:
    """Set ``XMODAL_FAST`` for this session unless it is set: ``"0"`` (full mode) on a GPU, else ``"1"``."""
    return environ.setdefault("XMODAL_FAST", "0" if cuda_available else "1")


def main(root: Path = ROOT) -> None:
    """Install, import from the clone, and pick the mode (see the module docstring)."""
    loaded = install(root)
    if loaded:
        raise RestartNeeded(
            f"the install updated packages this session had already imported ({', '.join(loaded)}): "
            "restart the session (Runtime > Restart session), then run the notebook again; "
            "the install is not repeated"
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import torch

    fast = choose_mode(torch.cuda.is_available())
    where = "a GPU" if torch.cuda.is_available() else "no GPU"
    mode = "fast" if fast.strip().lower() in {"1", "true", "yes", "on"} else "full"
    print(f"xmodal_lab: ready on Colab, {where}, {mode} mode (XMODAL_FAST={fast})")


if __name__ == "__main__":
    main()
