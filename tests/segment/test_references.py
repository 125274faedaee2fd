"""Every kit name that lesson 06 and the project ideas cite exists (e.g. ``download_sam_checkpoint``)."""

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    ROOT / "notebooks" / "projects" / "ideas_and_datasets.md",
    ROOT / "notebooks" / "06_segment_anything.ipynb",
]
#: ``xmodal_lab.a.b`` or ``xl.a.b`` (``xl`` is how the notebooks import the kit), up to a call or the end.
NAME = re.compile(r"\b(xmodal_lab|xl)((?:\.[A-Za-z_]\w*)+)")


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    return path.read_text()


def _resolve(dotted: str):
    parts = dotted.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


def _names(path: Path) -> list[str]:
    return sorted({"xmodal_lab" + m.group(2) for m in NAME.finditer(_text(path))})


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_cited_kit_names_exist(path):
    names = _names(path)
    assert names, f"{path.name}: no kit name found; the pattern is broken"
    missing = []
    for dotted in names:
        try:
            _resolve(dotted)
        except (AttributeError, ModuleNotFoundError):
            missing.append(dotted)
    assert not missing, f"{path.name} cites names the kit does not have: {missing}"


def test_download_reference_is_the_public_name():
    text = _text(DOCS[0])
    assert "download_sam_checkpoint" in text and "models.sam." not in text
    with pytest.raises(ModuleNotFoundError):
        _resolve("xmodal_lab.models.sam.download_checkpoint")
