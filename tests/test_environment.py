"""The three install routes (pip, conda, Binder) must agree on one dependency set, pinned by constraints.txt."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(d) for d in project["dependencies"]}, {
        _name(d) for d in project["optional-dependencies"]["dev"]
    }


def _pip_section(path: Path) -> list[str]:
    lines, inside = [], False
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if re.match(r"^\s*- pip:\s*$", line):
            inside = True
            continue
        if inside:
            m = re.match(r"^\s{4,}- (.+)$", line)
            if m:
                lines.append(m.group(1).strip())
            elif line.strip():
                inside = False
    return lines


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower().replace("_", "-")] = version
    return pins


@pytest.mark.parametrize("env_file", ["environment.yml", "binder/environment.yml"])
def test_environment_files_list_the_pyproject_dependencies(env_file):
    runtime, dev = _pyproject()
    listed = {_name(x) for x in _pip_section(ROOT / env_file) if not x.startswith("-")}
    assert listed == runtime | dev, (
        f"{env_file} and pyproject.toml disagree: only in {env_file}: {sorted(listed - runtime - dev)}, "
        f"only in pyproject.toml: {sorted((runtime | dev) - listed)}"
    )


def test_environment_files_use_the_constraints():
    assert "--constraint constraints.txt" in _pip_section(ROOT / "environment.yml")
    assert "--constraint ../constraints.txt" in _pip_section(ROOT / "binder/environment.yml")


def test_every_dependency_is_pinned_and_torch_cannot_float():
    runtime, dev = _pyproject()
    pins = _constraints()
    missing = sorted((runtime | dev) - set(pins))
    assert not missing, f"constraints.txt does not pin: {missing}"
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1" and pins["torchgeo"] == "0.8.1"
    binder = _pip_section(ROOT / "binder/environment.yml")
    assert "torch==2.14.1+cpu" in binder and "torchvision==0.29.1+cpu" in binder
    assert any("download.pytorch.org/whl/cpu" in x for x in binder)


def test_installed_versions_match_the_constraints():
    from importlib.metadata import PackageNotFoundError, version

    pins = _constraints()
    for name in ("torch", "torchvision", "torchgeo", "lightning", "segment-anything", "numpy"):
        try:
            installed = version(name)
        except PackageNotFoundError:
            pytest.fail(f"{name} is not installed; run `make install`")
        assert installed.split("+")[0] == pins[name], f"{name} {installed} installed, {pins[name]} pinned"


def test_binder_scripts_exist_and_start_turns_on_fast_mode():
    start = (ROOT / "binder/start").read_text()
    assert "XMODAL_FAST=1" in start and 'exec "$@"' in start
    post = (ROOT / "binder/postBuild").read_text()
    assert "pip install" in post
    for script in ("binder/start", "binder/postBuild", ".ci/run"):
        assert (ROOT / script).stat().st_mode & 0o111, f"{script} is not executable"


def _same_numbers() -> dict[str, str]:
    lines = (ROOT / "scripts/same_numbers.env").read_text().splitlines()
    return dict(line.replace('"', "").split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="the settings are for x86-64")
def test_tests_binder_and_fast_lab_compute_as_the_quoted_run():
    settings = _same_numbers()
    assert set(settings) == {"ATEN_CPU_CAPABILITY", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES"}
    # this test process (a worker started after conftest.py set them) computes with AVX2 kernels
    assert {k: os.environ.get(k) for k in settings} == settings
    if "avx2" in Path("/proc/cpuinfo").read_text():
        assert torch.backends.cpu.get_cpu_capability() == "AVX2"
    shown = subprocess.run(["bash", "binder/start", "env"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert all(f"{k}={v}" in shown.stdout.splitlines() for k, v in settings.items())
    fast = subprocess.run(["make", "-n", "lab", "XMODAL_FAST=1"], cwd=ROOT, capture_output=True, text=True).stdout
    full = subprocess.run(["make", "-n", "lab", "XMODAL_FAST=0"], cwd=ROOT, capture_output=True, text=True).stdout
    assert all(f"{k}=" in fast and v in fast for k, v in settings.items()) and "ATEN_CPU_CAPABILITY" not in full


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci/run").read_text()
    assert "`make test`" in readme and "`make lab`" in readme
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run the README's test command"
