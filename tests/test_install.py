"""The laptop install: which torch build `make install` picks, its stamp, the lab targets and Python versions."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from processes import stop_group

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "scripts" / "torch_source.py"
HAS_DRIVER = Path("/proc/driver/nvidia").exists()
needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _no_gpu_path(tmp_path: Path) -> str:
    """A PATH folder without nvidia-smi (empty)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    return str(folder)


def _torch_source(env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(SOURCE)], env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    return done, time.monotonic() - start


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_gpu_machine_keeps_the_cuda_build(tmp_path):
    fake = tmp_path / "gpu"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\nexit 0\n")
    (fake / "nvidia-smi").chmod(0o755)
    done, _ = _torch_source(
        {"PATH": str(fake), "XMODAL_TORCH_INDEX": f"http://127.0.0.1:{_closed_port()}/cpu"}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", "a GPU machine must install the registry's CUDA build"
    assert "NVIDIA GPU found" in done.stderr


@pytest.mark.skipif(HAS_DRIVER, reason="this machine has an NVIDIA driver: the no-GPU branch cannot run here")
def test_without_a_gpu_an_unreachable_index_falls_back_in_one_line(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/whl/cpu"
    done, seconds = _torch_source({"PATH": _no_gpu_path(tmp_path), "XMODAL_TORCH_INDEX": url})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "did not answer" in done.stderr
    assert "registry's build" in done.stderr
    assert seconds < 10


@pytest.mark.skipif(HAS_DRIVER, reason="this machine has an NVIDIA driver: the no-GPU branch cannot run here")
def test_a_silent_index_costs_the_probe_timeout_only(tmp_path):
    with socket.socket() as server:  # accepts connections and never answers
        server.bind(("127.0.0.1", 0))
        server.listen()
        url = f"http://127.0.0.1:{server.getsockname()[1]}/whl/cpu"
        env = {"PATH": _no_gpu_path(tmp_path), "XMODAL_TORCH_INDEX": url, "XMODAL_TORCH_PROBE_S": "1"}
        done, seconds = _torch_source(env)
    assert done.stdout.strip() == "" and "within 1 s" in done.stderr
    assert seconds < 8, f"the probe took {seconds:.1f} s"


@pytest.mark.skipif(HAS_DRIVER, reason="this machine has an NVIDIA driver: the no-GPU branch cannot run here")
def test_without_a_gpu_a_reachable_index_gives_the_cpu_build(tmp_path):
    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = b"<html><a href='torch/'>torch</a></html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/whl/cpu"
        done, _ = _torch_source({"PATH": _no_gpu_path(tmp_path), "XMODAL_TORCH_INDEX": url})
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["--extra-index-url", url]
    assert "CPU build" in done.stderr


def test_the_choice_can_be_forced_and_a_typo_is_refused(tmp_path):
    done, _ = _torch_source({"PATH": _no_gpu_path(tmp_path), "XMODAL_TORCH": "cuda"})
    assert done.returncode == 0 and done.stdout.strip() == ""
    done, _ = _torch_source({"PATH": _no_gpu_path(tmp_path), "XMODAL_TORCH": "gpu"})
    assert done.returncode != 0 and "cpu, cuda or default" in done.stderr


def _fake_venv(tmp_path: Path, stamped: bool) -> Path:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    if stamped:
        time.sleep(0.01)
        (venv / ".xmodal_installed").touch()
    return venv


def _make_dry(target: str, venv: Path) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _recording_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv whose python runs scripts for real and records pip commands instead of installing."""
    venv, log = tmp_path / "venv", tmp_path / "pip.log"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "{log}"; exit 0; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    python.chmod(0o755)
    return venv, log


def _make_install(venv: Path, tmp_path: Path, index: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{_no_gpu_path(tmp_path)}:/usr/bin:/bin", "XMODAL_TORCH_INDEX": index}
    return subprocess.run(
        ["make", "--no-print-directory", "install", f"VENV={venv}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@needs_make
@pytest.mark.skipif(HAS_DRIVER, reason="this machine has an NVIDIA driver: the no-GPU branch cannot run here")
@pytest.mark.skipif(
    shutil.which("nvidia-smi", path="/usr/bin:/bin") is not None, reason="nvidia-smi in /usr/bin"
)
def test_make_install_falls_back_then_uses_a_reachable_cpu_index_and_keeps_the_pins(tmp_path):
    venv, log = _recording_venv(tmp_path / "a")
    done = _make_install(venv, tmp_path, f"http://127.0.0.1:{_closed_port()}/whl/cpu")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "did not answer" in done.stderr
    install = log.read_text().splitlines()[-1]
    assert "-c constraints.txt" in install and "-e .[dev]" in install
    assert "--extra-index-url" not in install

    server = _serve_ok()
    try:
        url = f"http://127.0.0.1:{server.server_port}/whl/cpu"
        venv, log = _recording_venv(tmp_path / "b")
        done = _make_install(venv, tmp_path, url)
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stdout + done.stderr
    install = log.read_text().splitlines()[-1]
    assert f"-c constraints.txt --extra-index-url {url} -e .[dev]" in install
    assert (venv / ".xmodal_installed").exists()


@needs_make
def test_make_install_is_idempotent(tmp_path):
    venv, log = _recording_venv(tmp_path)
    (venv / ".xmodal_installed").touch()
    done = _make_install(venv, tmp_path, f"http://127.0.0.1:{_closed_port()}/whl/cpu")
    assert done.returncode == 0, done.stdout + done.stderr
    assert not log.exists(), f"a current stamp must skip the install, pip ran: {log.read_text()}"


@needs_make
def test_make_lab_opens_the_student_copies_and_lab_solutions_the_instructor_notebooks(tmp_path):
    venv = _fake_venv(tmp_path, stamped=True)
    lab = _make_dry("lab", venv)
    solutions = _make_dry("lab-solutions", venv)
    assert re.search(r"--notebook-dir=notebooks/student(\s|$)", lab), lab
    assert re.search(r"--notebook-dir=notebooks(\s|$)", solutions), solutions
    assert sorted(p.name for p in (ROOT / "notebooks" / "student").glob("*.ipynb")) == sorted(
        p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )


def test_supported_pythons_are_declared_and_documented():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.11,<3.14"
    for minor in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {minor}" in project["classifiers"]
    assert "Python 3.11 to 3.13" in (ROOT / "README.md").read_text()
    assert sys.version_info[:2] in {(3, 11), (3, 12), (3, 13)}


def test_ci_tries_every_further_python():
    ci = (ROOT / ".ci" / "run").read_text()
    script = ROOT / "scripts" / "ci_other_pythons.sh"
    assert re.search(r"^make test\nbash scripts/ci_other_pythons.sh$", ci, re.M)
    assert script.stat().st_mode & 0o111
    assert "-c constraints.txt" in script.read_text()


def _ci_other_pythons(tmp_path: Path, probe: str, pyenv: Path, **env: str) -> subprocess.CompletedProcess:
    venvs = tmp_path / "venvs"
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "ci_other_pythons.sh")],
        env={
            **os.environ,
            "PATH": "/usr/bin:/bin",
            "PYENV_ROOT": str(pyenv),
            "XMODAL_PY_PROBE_URL": probe,
            "XMODAL_PY_VENVS": str(venvs),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def _serve_ok():
    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.skipif(shutil.which("python3", path="/usr/bin:/bin") is None, reason="no python3 in /usr/bin")
def test_ci_skips_further_pythons_with_a_reason_and_never_fails_for_it(tmp_path):
    pyenv = tmp_path / "pyenv"
    done = _ci_other_pythons(tmp_path, f"http://127.0.0.1:{_closed_port()}/", pyenv)
    assert done.returncode == 0 and "skipped: the registry" in done.stdout, done.stdout + done.stderr

    server = _serve_ok()
    try:
        probe = f"http://127.0.0.1:{server.server_port}/"
        missing = [f"3.{m}" for m in (12, 13) if shutil.which(f"python3.{m}", path="/usr/bin:/bin") is None]
        done = _ci_other_pythons(tmp_path, probe, pyenv)
        assert done.returncode == 0, done.stdout + done.stderr
        for version in missing:
            assert f"Python {version} skipped: not installed on this machine" in done.stdout

        for version in ("3.12", "3.13"):  # a pyenv with both, but no time left for either
            folder = pyenv / "versions" / f"{version}.9" / "bin"
            folder.mkdir(parents=True)
            (folder / f"python{version}").symlink_to(sys.executable)
        done = _ci_other_pythons(tmp_path, probe, pyenv, XMODAL_CI_LIMIT_S="600")
    finally:
        server.shutdown()
    assert done.returncode == 0, done.stdout + done.stderr
    for version in ("3.12", "3.13"):
        assert re.search(rf"Python {version} skipped: -?\d+ s left of CI's 600 s", done.stdout), done.stdout
    assert not (tmp_path / "venvs").exists(), "a skipped version must not install anything"


STUDENT_00 = "/lab/tree/notebooks/student/00_welcome.ipynb"


def test_binder_start_turns_on_fast_mode_and_keeps_the_command():
    show = "import json, os, sys; print(json.dumps([os.environ['XMODAL_FAST'], sys.argv[1:]]))"
    done = subprocess.run(
        ["bash", str(ROOT / "binder" / "start"), sys.executable, "-c", show, "--ip=0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "XMODAL_FAST"},
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["1", ["--ip=0.0.0.0"]]


def test_binder_lands_on_the_student_copy_even_when_binder_passes_a_default_url(tmp_path):
    port = _closed_port()
    root = ["--allow-root"] if os.geteuid() == 0 else []
    cmd = ["bash", str(ROOT / "binder" / "start"), sys.executable, "-m", "jupyterlab", "--no-browser"]
    cmd += [
        f"--port={port}",
        "--ip=127.0.0.1",
        "--IdentityProvider.token=t",
        "--ServerApp.default_url=/lab/",
        *root,
    ]
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "HOME": str(tmp_path)},
    )

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        deadline, location = time.time() + 90, None
        while time.time() < deadline and location is None:
            if proc.poll() is not None:
                pytest.fail(f"JupyterLab exited:\n{proc.stdout.read().decode()[-3000:]}")
            try:
                urllib.request.build_opener(Keep).open(f"http://127.0.0.1:{port}/?token=t", timeout=5)
            except urllib.error.HTTPError as redirect:
                location = redirect.headers.get("Location")
            except OSError:
                time.sleep(1)
        assert location is not None, "JupyterLab did not answer within 90 s"
        assert location.split("?")[0].endswith(STUDENT_00), location
    finally:
        stop_group(proc)
