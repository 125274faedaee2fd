"""Prefetch real places into the data cache: ``python -m xmodal_lab.data.fetch --course`` (``make data``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from xmodal_lab.data.stac import COURSE_PLACES, fetch_pair
from xmodal_lab.errors import CatalogError, NoSceneError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 all fetched, 1 some had no scene, 2 offline)."""
    parser = argparse.ArgumentParser(prog="python -m xmodal_lab.data.fetch", description=__doc__.splitlines()[0])
    parser.add_argument("--course", action="store_true", help="every place and date of the course")
    parser.add_argument("--place", action="append", default=[], choices=sorted(COURSE_PLACES), help="one place")
    parser.add_argument("--bbox", nargs=4, type=float, metavar=("W", "S", "E", "N"), help="a box in degrees")
    parser.add_argument("--dates", help="the optical window of --bbox: START/END or one date")
    parser.add_argument("--max-cloud", type=float, default=20.0, help="percent, for --bbox (default 20)")
    parser.add_argument("--max-days-apart", type=float, default=12.0, help="days radar to optical (default 12)")
    parser.add_argument("--catalog", default=None, help="planetary-computer, earth-search or a STAC API URL")
    parser.add_argument("--out", default=None, help="folder (default: the kit's cache, places/)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.bbox is not None and not args.dates:
        parser.error("--bbox needs --dates")
    names = list(COURSE_PLACES) if args.course else args.place
    jobs = [(f"{name}_{label}", COURSE_PLACES[name].where, dates, COURSE_PLACES[name].max_cloud)
            for name in names for label, dates in COURSE_PLACES[name].dates.items()]  # fmt: skip
    if args.bbox is not None:
        jobs.append(("box", tuple(args.bbox), args.dates, args.max_cloud))
    if not jobs:
        parser.error("nothing to fetch: pass --course, --place NAME or --bbox W S E N --dates START/END")
    missing = 0
    for label, where, dates, max_cloud in jobs:
        try:
            pair = fetch_pair(where, dates, catalog=args.catalog, max_cloud=max_cloud,
                              max_days_apart=args.max_days_apart, out_dir=args.out, name=label,
                              progress=not args.quiet)  # fmt: skip
        except CatalogError as error:
            print(f"xmodal_lab: no catalog reachable, nothing more fetched (offline?): {error}")
            return 2
        except NoSceneError as error:
            print(f"{label}: no pair ({error})")
            missing += 1
            continue
        s2, s1 = pair.info["s2"], pair.info["s1"]
        print(f"{label}: {s2['datetime'][:10]} {s2['id']} ({s2['cloud_percent_over_box']:.1f} % cloud over the box)"
              f" + {s1['id']} ({s1['days_from_s2']:+.1f} d) -> {pair.s2.parent}")  # fmt: skip
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
