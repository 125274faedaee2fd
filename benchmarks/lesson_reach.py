"""Which of the package's functions the lessons call: lines per subpackage, and the largest functions no lesson calls.

Runs the notebooks (or, with ``--tests``, the test suite) under nbmake, their kernels set up by the root
``conftest.py`` (the figure check loaded), with a profile hook that records each function of ``xmodal_lab`` the
first time it is called; then counts the lines of every function and method never called. It answers "how much of
the package does the curriculum use?" when weighing what a smaller package could leave out. Fast mode; a function
counts as called if any process called it once.

Usage::

    python benchmarks/lesson_reach.py [--notebooks notebooks/0*.ipynb ...] [--tests] [--top 30] [-n 2]
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "xmodal_lab"

#: Written as ``sitecustomize.py`` on the runs' PYTHONPATH, so every process (kernels too) records its calls.
HOOK = '''
import os, sys, threading
_OUT, _PACKAGE = os.environ.get("XMODAL_REACH_OUT"), os.environ.get("XMODAL_REACH_PACKAGE", "")
if _OUT:
    _seen, _path = set(), os.path.join(_OUT, f"{os.getpid()}.txt")
    def _record(frame, event, arg):
        if event == "call" and frame.f_code not in _seen:
            _seen.add(frame.f_code)
            if frame.f_code.co_filename.startswith(_PACKAGE):
                with open(_path, "a") as f:
                    f.write(f"{frame.f_code.co_filename}:{frame.f_code.co_firstlineno}\\n")
    sys.setprofile(_record)
    threading.setprofile(_record)
'''


def functions(package: Path) -> list[tuple[str, int, str, int]]:
    """``(file, first line, qualified name, lines)`` of every function and method (nested ones count with their parent)."""
    out: list[tuple[str, int, str, int]] = []

    def visit(body: list, rel: str, prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])  # as co_firstlineno
                out.append((rel, first, prefix + node.name, node.end_lineno - first + 1))
            elif isinstance(node, ast.ClassDef):
                visit(node.body, rel, f"{prefix}{node.name}.")

    for path in sorted(package.rglob("*.py")):
        visit(ast.parse(path.read_text()).body, str(path.relative_to(package.parent)), "")
    return out


def called(records: Path, package: Path) -> set[tuple[str, int]]:
    """``(file, first line)`` of every function the recorded runs called."""
    seen = set()
    for file in records.glob("*.txt"):
        for line in file.read_text().splitlines():
            name, _, first = line.rpartition(":")
            seen.add((str(Path(name).resolve().relative_to(package.parent.resolve())), int(first)))
    return seen


def _room(rel: Path) -> str:
    """The subpackage of a file ``rel`` below the package folder, or "(top level)"."""
    return rel.parts[0] if len(rel.parts) > 1 else "(top level)"


def report(package: Path, seen: set[tuple[str, int]], top: int) -> str:
    """Per subpackage: all lines, lines in functions and methods, and in those never called; then the largest."""
    rows: dict[str, Counter] = {}
    for path in sorted(package.rglob("*.py")):
        rows.setdefault(_room(path.relative_to(package)), Counter())["lines"] += len(path.read_text().splitlines())
    uncalled = []
    for unit in functions(package):
        row = rows[_room(Path(*Path(unit[0]).parts[1:]))]
        row["in functions"] += unit[3]
        if (unit[0], unit[1]) not in seen:
            row["never called"] += unit[3]
            uncalled.append(unit)
    rows["all"] = sum(rows.values(), Counter())
    lines = [f"{'subpackage':<14}{'lines':>8}{'in functions':>14}{'never called':>14}"]
    lines += [f"{name:<14}{r['lines']:>8}{r['in functions']:>14}{r['never called']:>14}" for name, r in rows.items()]
    lines.append(f"\nthe {min(top, len(uncalled))} largest of {len(uncalled)} functions never called:")
    lines += [f"{n:>5}  {f}  {name}" for f, _, name, n in sorted(uncalled, key=lambda u: -u[3])[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebooks", nargs="*", default=sorted(str(f) for f in (ROOT / "notebooks").glob("[0-9]*.ipynb")))
    p.add_argument("--tests", action="store_true", help="run the test suite (tests/) instead of the notebooks")
    p.add_argument("--top", type=int, default=30, help="how many uncalled functions to list (default: 30)")
    p.add_argument("-n", default="2", help="pytest-xdist workers (default: 2)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        hook, records = Path(tmp) / "hook", Path(tmp) / "records"
        hook.mkdir()
        records.mkdir()
        (hook / "sitecustomize.py").write_text(HOOK)
        path = os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")]))  # conftest adds ROOT
        env = {**os.environ, "PYTHONPATH": path, "XMODAL_REACH_OUT": str(records),
               "XMODAL_REACH_PACKAGE": str(PACKAGE), "XMODAL_FAST": "1", "MPLBACKEND": "Agg"}
        targets = ["tests"] if args.tests else ["--nbmake", *args.notebooks]
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", args.n,
                              *targets], cwd=ROOT, env=env)  # fmt: skip
        what = "tests" if args.tests else f"{len(args.notebooks)} notebooks"
        print(f"\n{what} ran (pytest exit {run.returncode}); functions of xmodal_lab they never called:\n")
        print(report(PACKAGE, called(records, PACKAGE), args.top))


if __name__ == "__main__":
    main()
