"""Copy the six BigEarthNet-MM example pairs shipped in ``bigearthnet-common==2.8.0`` into ``data/``.

The PyPI package ``bigearthnet-common`` bundles two small archives, ``BigEarthNet-S1-Example.tar.bz2`` and
``BigEarthNet-S2-Example.tar.bz2``: six co-registered Sentinel-1 / Sentinel-2 patches in the layout of the
full BigEarthNet-MM archive. This script unpacks them, unchanged, into ``data/bigearthnet_mm/`` and writes
the licence and attribution next to them. It never overwrites a file that differs from the archive's copy.

Usage::

    pip install bigearthnet-common==2.8.0
    python scripts/extract_bigearthnet_samples.py [--out data/bigearthnet_mm]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tarfile
from importlib import resources
from pathlib import Path

ARCHIVES = ("BigEarthNet-S1-Example.tar.bz2", "BigEarthNet-S2-Example.tar.bz2")
REPO = Path(__file__).resolve().parent.parent

ATTRIBUTION = """\
BigEarthNet-MM example patches
==============================

The six Sentinel-1 / Sentinel-2 patch pairs in this folder are the examples shipped inside the PyPI
package bigearthnet-common 2.8.0 (files BigEarthNet-S1-Example.tar.bz2 and BigEarthNet-S2-Example.tar.bz2),
unpacked without modification by scripts/extract_bigearthnet_samples.py. They are part of the
BigEarthNet-MM archive (https://bigearth.net).

Licence: Community Data License Agreement - Permissive, Version 1.0 (CDLA-Permissive-1.0),
https://cdla.dev/permissive-1-0/

Contains modified Copernicus Sentinel data 2017-2018.

Please cite:

  G. Sumbul, A. de Wall, T. Kreuziger, F. Marcelino, H. Costa, P. Benevides, M. Caetano, B. Demir,
  V. Markl, "BigEarthNet-MM: A Large-Scale, Multimodal, Multilabel Benchmark Archive for Remote Sensing
  Image Classification and Retrieval", IEEE Geoscience and Remote Sensing Magazine, vol. 9, no. 3,
  pp. 174-180, 2021, doi:10.1109/MGRS.2021.3089174.

  G. Sumbul, M. Charfuelian, B. Demir, V. Markl, "BigEarthNet: A Large-Scale Benchmark Archive for
  Remote Sensing Image Understanding", IEEE International Geoscience and Remote Sensing Symposium
  (IGARSS), pp. 5901-5904, 2019, doi:10.1109/IGARSS.2019.8900532.

Labels are CORINE Land Cover 2018 classes (Copernicus Land Monitoring Service, European Environment
Agency).
"""

LICENSE = """\
Community Data License Agreement - Permissive - Version 1.0

The data in this folder (the BigEarthNet-MM example patches, see ATTRIBUTION.md) is made available under
the Community Data License Agreement - Permissive, Version 1.0 (CDLA-Permissive-1.0).

The full text of the agreement is published by the Linux Foundation at https://cdla.dev/permissive-1-0/
(SPDX identifier: CDLA-Permissive-1.0). In short: you may use, modify and share the data, provided that
you keep this notice and the attribution in ATTRIBUTION.md with any copy of the data you share; the data
is provided "as is", without warranties or liability.

Contains modified Copernicus Sentinel data 2017-2018.
"""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_new(path: Path, data: bytes) -> str:
    """Write ``data`` unless ``path`` holds it already; refuse to replace different content."""
    if path.exists():
        if _sha256(path.read_bytes()) == _sha256(data):
            return "same"
        raise FileExistsError(f"{path} exists with different content; remove it first (never overwritten)")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return "new"


def extract(out: Path) -> dict[str, int]:
    """Unpack both example archives into ``out`` and write LICENSE and ATTRIBUTION.md.

    Args:
        out: target folder (``data/bigearthnet_mm``).

    Returns:
        Counts of files written (``new``) and already present (``same``).
    """
    counts = {"new": 0, "same": 0}
    package = resources.files("bigearthnet_common")
    for name in ARCHIVES:
        archive = package / name
        if not archive.is_file():
            raise FileNotFoundError(f"{name} is not inside the installed bigearthnet_common package")
        with resources.as_file(archive) as path, tarfile.open(path, "r:bz2") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                parts = Path(member.name).parts
                if member.name.startswith("/") or ".." in parts:
                    raise ValueError(f"{name}: unsafe path {member.name!r} in the archive")
                data = tar.extractfile(member).read()
                counts[_write_new(out.joinpath(*parts), data)] += 1
    counts[_write_new(out / "LICENSE", LICENSE.encode())] += 1
    counts[_write_new(out / "ATTRIBUTION.md", ATTRIBUTION.encode())] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "data" / "bigearthnet_mm", help="target folder")
    args = parser.parse_args(argv)
    counts = extract(args.out)
    print(f"{args.out}: {counts['new']} files written, {counts['same']} already present and identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
