"""benchmarks/lesson_reach.py: its hook records exactly the functions a process calls (decorated ones and
methods included, in threads too), and the report counts the lines of the ones never called."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

MODULE = '''\
import functools
import threading


def used():
    return 1


@functools.lru_cache
def decorated():
    return 2


def in_thread():
    return 3


def never():
    a = 1
    return a


class Tool:
    def method(self):
        return 4

    def unused(self):
        b = 2
        c = 3
        return b + c
'''


@pytest.fixture(scope="module")
def reach():
    spec = importlib.util.spec_from_file_location("lesson_reach", ROOT / "benchmarks" / "lesson_reach.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hook_records_the_calls_and_the_report_counts_the_rest(reach, tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "tools.py").write_text(MODULE)
    hook, records = tmp_path / "hook", tmp_path / "records"
    hook.mkdir()
    records.mkdir()
    (hook / "sitecustomize.py").write_text(reach.HOOK)
    script = textwrap.dedent("""
        import threading
        from pkg.sub import tools
        tools.used(); tools.decorated(); tools.Tool().method()
        t = threading.Thread(target=tools.in_thread); t.start(); t.join()
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(hook), str(tmp_path)]),
           "XMODAL_REACH_OUT": str(records), "XMODAL_REACH_PACKAGE": str(package)}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, cwd=tmp_path)

    seen = reach.called(records, package)
    names = {name for f, first, name, _ in reach.functions(package) if (f, first) in seen}
    assert names == {"used", "decorated", "in_thread", "Tool.method"}
    text = reach.report(package, seen, top=5)
    row = next(line.split() for line in text.splitlines() if line.startswith("sub "))
    # functions and methods: 2 + 3 (with its decorator) + 2 + 3 + 2 + 4 = 16 lines; never() 3 + unused() 4 = 7
    assert row == ["sub", str(len(MODULE.splitlines())), "16", "7"]
    assert text.splitlines()[-2:] == ["    4  pkg/sub/tools.py  Tool.unused", "    3  pkg/sub/tools.py  never"]
