"""Figure helpers of the lessons (radar colour key, outlines, km axes) and a check of every displayed figure.

``%load_ext xmodal_lab.viz.lesson_figures`` fails a cell whose figure is empty, saturated, shown twice, shown
as text only, or left open.
"""

from __future__ import annotations

import base64
import functools
import io
import sys
from typing import Any

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from xmodal_lab.viz.figure import swatch_legend

#: Share of a figure's image pixels beyond their colour limits (or pure white in RGB) called saturated.
CLIP_SHARE = 0.3
#: The same for a single colour-mapped panel (an RGB tile of snow or cloud may be white).
PANEL_CLIP_SHARE = 0.6

#: Land-cover classes shown in the radar key, with the names the lessons use.
_KEY_CLASSES = (("water", "water"), ("forest", "forest"), ("cropland", "cropland"), ("bare soil", "bare soil / sand"),
                ("urban", "urban"))  # fmt: skip


@functools.lru_cache(maxsize=1)
def radar_key() -> list[tuple[str, np.ndarray]]:
    """``(name, [3] uint8 colour)``: each class's median colour in the radar composite of simulated tiles."""
    from xmodal_lab.data import LANDCOVER_CLASSES, SimulatedWorld
    from xmodal_lab.data.composites import s1_composite
    world = SimulatedWorld(seed=0, size=32, n_scenes=64)
    pairs = [world[i] for i in range(len(world))]
    rgb = np.concatenate([s1_composite(np.asarray(p["s1"])).reshape(-1, 3) for p in pairs])  # [pixels, 3]
    lc = np.concatenate([np.asarray(p["landcover"]).ravel() for p in pairs])  # [pixels]
    ids = {name: LANDCOVER_CLASSES.index(cls) for cls, name in _KEY_CLASSES}
    return [(name, np.median(rgb[lc == c], axis=0).astype(np.uint8)) for name, c in ids.items() if c in lc]


def radar_legend(fig: Figure, **kwargs: Any):
    """Add the radar composite's key to ``fig``: its channels' dB ranges and typical materials' colours."""
    from xmodal_lab.data.composites import RATIO_RANGE_DB, VH_RANGE_DB, VV_RANGE_DB
    vv, vh, ratio = (f"{lo:g} to {hi:g} dB" for lo, hi in (VV_RANGE_DB, VH_RANGE_DB, RATIO_RANGE_DB))
    title = f"radar composite: R = VV ({vv}), G = VH ({vh}), B = VV/VH ratio ({ratio})"
    kwargs.setdefault("title_fontsize", 8)
    return swatch_legend(fig, {name: c / 255 for name, c in radar_key()}, title=title, **kwargs)


def outline_cells(ax: Any, selected: Any, extent: Any, colour: Any, width: float = 1.5, gid="selection"):
    """Outline the True cells of a boolean ``[rows, cols]`` grid (``imshow`` ``extent``) along their edges."""
    m = np.pad(np.asarray(selected, dtype=bool), 1)  # False all around, so border cells get outer edges
    left, right, bottom, top = (float(v) for v in extent)
    xs = np.linspace(left, right, m.shape[1] - 1)  # the x of every cell edge, left to right
    ys = np.linspace(top, bottom, m.shape[0] - 1)  # the y of every cell edge, top to bottom
    rows, cols = np.nonzero(m[1:, 1:-1] != m[:-1, 1:-1])  # selected above or below edge row r, not both
    segments = [[(xs[c], ys[r]), (xs[c + 1], ys[r])] for r, c in zip(rows, cols)]
    rows, cols = np.nonzero(m[1:-1, 1:] != m[1:-1, :-1])  # selected left or right of edge column c
    segments += [[(xs[c], ys[r]), (xs[c], ys[r + 1])] for r, c in zip(rows, cols)]
    return ax.add_collection(LineCollection(segments, colors=[colour], linewidths=width, gid=gid, zorder=3,
                                            clip_on=False))  # fmt: skip


def outline_selection(ax: Any, threshold: float, colour: Any = "#00c000", gid: str = "similarity"):
    """Outline the tiles of the similarity image ``gid`` at or above ``threshold``, replacing contours."""
    from matplotlib.contour import ContourSet
    image = next(im for im in ax.get_images() if im.get_gid() == gid)
    for contour in [c for c in ax.collections if isinstance(c, ContourSet)]:
        contour.remove()
    s = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(image.get_array(), dtype=float)), -np.inf)
    return outline_cells(ax, s >= threshold, image.get_extent(), colour)


def km_axes(ax: Any, nbins: int = 4) -> None:
    """Label an axes in metres of a projected CRS in kilometres, at most ``nbins`` ticks and no offset."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(nbins))
        axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}"))
        axis.set_label_text(axis.get_label_text().replace("(m", "(km"))


def _clipped_share(image) -> float:
    """Share of an ``AxesImage``'s pixels drawn at a clip value: beyond its limits, or pure white in RGB."""
    a = np.ma.masked_invalid(np.ma.asarray(image.get_array()).astype(np.float64))
    if a.count() == 0:
        return 0.0
    if a.ndim == 2:
        if type(image.norm) is not Normalize or image.norm.vmin is None or image.norm.vmax is None:
            return 0.0  # categorical (BoundaryNorm) and log scales: no clip value to count
        return float(((a < image.norm.vmin) | (a > image.norm.vmax)).mean())
    top = 255.0 if np.ma.max(a[..., :3]) > 1.0 + 1e-6 else 1.0
    return float((a[..., :3] >= top).all(axis=-1).mean())


def figure_problems(fig: Figure, png: Any = None) -> list[str]:
    """One sentence per thing making ``fig`` unreadable (no data, one colour, saturated images); [] if fine.

    ``png`` is the figure as shown (bytes or base64; drawn with Agg when None). Saturated means over
    :data:`CLIP_SHARE` of all image pixels at a clip value, or :data:`PANEL_CLIP_SHARE` of one scalar panel.
    """
    problems = []
    if not any(ax.has_data() for ax in fig.axes) and not fig.images:
        problems.append("empty: no axes holds data (no image, line, marker or patch)")
    if png is not None:
        from matplotlib.image import imread
        pixels = imread(io.BytesIO(base64.b64decode(png) if isinstance(png, str) else png), format="png")
    else:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        canvas = fig.canvas if hasattr(fig.canvas, "buffer_rgba") else FigureCanvasAgg(fig)
        canvas.draw()
        pixels = np.asarray(canvas.buffer_rgba())
    pixels = pixels[..., :3]
    if pixels.size and np.ptp(pixels.reshape(-1, 3), axis=0).max() == 0:
        problems.append("empty: the whole picture is one colour")
    clipped = [(ax, _clipped_share(im), im.get_array().ndim == 2) for ax in fig.axes for im in ax.images]
    overall = float(np.mean([share for _, share, _ in clipped])) if clipped else 0.0  # panels weigh alike
    if overall > CLIP_SHARE:
        problems.append(f"saturated: {overall:.0%} of the image panels' pixels are at a clip value (over "
                        f"{CLIP_SHARE:.0%}); widen the colour range or use a fixed stretch that fits "
                        "the data")  # fmt: skip
    for ax, share, scalar in clipped:  # a white RGB panel may be snow or cloud; a scalar one is a bad range
        if scalar and share > PANEL_CLIP_SHARE:
            where = ax.get_title() or ax.get_label() or "untitled panel"
            problems.append(f"saturated: {share:.0%} of the pixels of {where!r} are at a clip value (over "
                            f"{PANEL_CLIP_SHARE:.0%})")  # fmt: skip
    return problems


def _open_figures() -> dict[int, Figure]:
    """``{number: figure}`` of the figures pyplot holds open (none before pyplot is imported)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    managers = [] if pyplot is None else pyplot._pylab_helpers.Gcf.get_all_fig_managers()
    return {m.num: m.canvas.figure for m in managers}


def _name(fig: Figure) -> str:
    title = fig.get_suptitle() or next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
    return f"figure {getattr(fig, 'number', '')}" + (f" ({title[:60]!r})" if title else "")


class FigureProblem(RuntimeError):
    """A cell showed a figure that a reader cannot use (empty, saturated, twice, as text, or not at all)."""


class FigureCheck:
    """Watches what an IPython shell displays and fails the cell that shows a bad figure."""

    def __init__(self, shell: Any):
        self.shell = shell
        self._format = shell.display_formatter.format
        self.shown: dict[int, tuple[Figure, int, bool]] = {}  # id -> (figure, times shown, with an image)
        self.found: list[str] = []  # problems of the figures shown by the running cell
        self.open_before: set[int] = set()

    def format(self, obj: Any, *args: Any, **kwargs: Any):
        """The shell's own ``display_formatter.format``, noting each figure it draws and its problems."""
        data, metadata = self._format(obj, *args, **kwargs)
        if isinstance(obj, Figure):
            _, times, had_image = self.shown.get(id(obj), (obj, 0, False))
            self.shown[id(obj)] = (obj, times + 1, had_image or "image/png" in data)
            if "image/png" in data:
                self.found += [f"{_name(obj)}: {p}" for p in figure_problems(obj, data["image/png"])]
        return data, metadata

    def pre_run_cell(self, info: Any = None) -> None:
        """Start a cell: forget the figures shown so far, note those already open."""
        self.shown, self.found = {}, []
        self.open_before = set(_open_figures())

    def problems(self) -> list[str]:
        """Problems of the figures of the cell that just ran."""
        found = list(self.found)
        for fig, times, had_image in self.shown.values():
            if times > 1:
                found.append(f"{_name(fig)}: shown {times} times; show each figure once")
            if not had_image:
                found.append(f"{_name(fig)}: shown as text only ({fig!r}); make it with xl.viz.new_figure or "
                             "xl.viz.grid, which draw it as a PNG under any backend")  # fmt: skip
        for number, fig in sorted(_open_figures().items()):
            if number in self.open_before:
                continue
            found.append(
                f"figure {number}: still open after it was shown, so Jupyter's inline backend draws it a "
                "second time; make it with xl.viz.new_figure or xl.viz.grid, or plt.close it"
                if id(fig) in self.shown else f"figure {number}: made but never shown (a headless run loses "
                "it); end the cell with the figure or display(fig) it"
            )  # fmt: skip
        return found

    def post_run_cell(self, result: Any) -> None:
        """End a cell: turn its figure problems into the cell's error, so the kernel reports it as failed."""
        found = self.problems()
        if found and result is not None and result.error_in_exec is None and result.error_before_exec is None:
            try:
                raise FigureProblem("; ".join(found))
            except FigureProblem as err:
                result.error_in_exec = err
                self.shell.showtraceback()


_CHECK: FigureCheck | None = None


def load_ipython_extension(shell: Any) -> None:
    """Check every figure the cells of ``shell`` display (``%load_ext xmodal_lab.viz.lesson_figures``)."""
    global _CHECK
    if _CHECK is not None and _CHECK.shell is shell:
        return
    _CHECK = FigureCheck(shell)
    shell.display_formatter.format = _CHECK.format
    shell.events.register("pre_run_cell", _CHECK.pre_run_cell)
    shell.events.register("post_run_cell", _CHECK.post_run_cell)


def unload_ipython_extension(shell: Any) -> None:
    """Stop checking figures."""
    global _CHECK
    if _CHECK is None:
        return
    shell.display_formatter.format = _CHECK._format
    shell.events.unregister("pre_run_cell", _CHECK.pre_run_cell)
    shell.events.unregister("post_run_cell", _CHECK.post_run_cell)
    _CHECK = None
