"""Matplotlib figures that show once in a notebook (``plt.show()``, returned or made in a loop), and panels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle

_MARK = "_xmodal_lab_figure"  # only the figures of this package are closed once displayed


def new_figure(**kwargs: Any) -> Figure:
    """A pyplot figure (so ``plt.show()`` finds it) that is closed once a notebook has drawn it."""
    import matplotlib.pyplot as plt
    fig = plt.figure(**kwargs)
    setattr(fig, _MARK, True)
    enable_notebook_display()  # after plt.figure: the inline backend sets its formatters up on first use
    return fig


def _close_after(render):
    def render_once(fig):
        try:
            return render(fig)
        finally:
            if getattr(fig, _MARK, False):
                import matplotlib.pyplot as plt
                plt.close(fig)

    render_once.xmodal_lab_once = True
    return render_once


def enable_notebook_display() -> None:
    """Make IPython draw this package's figures once, as PNG (also under ``Agg``); elsewhere nothing."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    from IPython.core.pylabtools import select_figure_formats
    formatters = shell.display_formatter.formatters
    if not any(Figure in f.type_printers for f in formatters.values()):
        select_figure_formats(shell, {"png"})
    for formatter in formatters.values():
        render = formatter.type_printers.get(Figure)
        if render is not None and not getattr(render, "xmodal_lab_once", False):
            formatter.for_type(Figure, _close_after(render))


def figure_axes(ax=None, **kwargs: Any):
    """``(figure, axes)``: those of ``ax``, or a new figure with one axes when ``ax`` is None."""
    if ax is None:
        fig = new_figure(layout="constrained", **kwargs)
        return fig, fig.add_subplot()
    return ax.figure, ax


def grid(rows: int, cols: int, size: float = 2.4, titles: Any = None, figsize: Any = None, **kwargs: Any):
    """A new figure and its ``[rows, cols]`` axes, ``size`` inches per panel; ``titles`` name the columns."""
    fig = new_figure(figsize=figsize or (size * cols, size * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False, **kwargs))
    for ax, title in zip(axes[0], titles or []):
        ax.set_title(title, fontsize=9)
    return fig, axes


def label(ax, title: str | None = None, fontsize: float = 10, legend: float | None = None, **props: Any):
    """Set up an axes: its properties (``xlabel=...``), a title when given, a legend of font size ``legend``."""
    ax.set(**props)
    if title:
        ax.set_title(title, fontsize=fontsize)
    if legend:
        ax.legend(fontsize=legend)


def show(ax, image: Any = None, title: str | None = None, fontsize: float = 9, **imshow: Any):
    """One image panel without ticks; returns the ``AxesImage`` (None for an empty panel)."""
    im = None if image is None else ax.imshow(image, **imshow)
    label(ax, title, fontsize, xticks=[], yticks=[])
    return im


def colorbar(fig: Figure, image: Any, axes: Any, label: str, location: str = "bottom", **kwargs: Any):
    """A colour bar in physical units shared by ``axes`` (one axes or a list of them)."""
    bar = fig.colorbar(image, ax=axes, location=location, **{"shrink": 0.85, **kwargs})
    bar.set_label(label, fontsize=8)
    bar.ax.tick_params(labelsize=7)
    return bar


def outline(ax, mask: Any, colour: str, dashed: bool = False, width: float = 1.2, **kwargs: Any) -> None:
    """Outline the True region of a boolean ``[H, W]`` mask (nothing when it is all or none)."""
    m = np.asarray(mask, dtype=bool)
    if m.any() and not m.all():
        ax.contour(m.astype(float), levels=[0.5], colors=[colour], linewidths=width,
                   linestyles="--" if dashed else "-", **kwargs)  # fmt: skip


def frame(ax, colour: str, gid: str, width: float = 5.0) -> Rectangle:
    """Frame a whole axes with a coloured rectangle that tests and readers find by ``gid``."""
    rect = Rectangle((0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=colour, linewidth=width,
                     clip_on=False, gid=gid)  # fmt: skip
    ax.add_patch(rect)
    return rect


def suptitle(fig: Figure, title: str | None) -> None:
    """Give a figure a title when one is given."""
    if title:
        fig.suptitle(title, fontsize=11)


def swatch_legend(fig: Figure, colours: Mapping[str, Any], *, lines: Mapping[str, Mapping] | None = None,
                  title: str | None = None, loc: str = "outside lower center", **kwargs: Any):  # fmt: skip
    """Add a legend of colour swatches ``{name: colour}`` (and ``{name: Line2D style}`` lines) to ``fig``."""
    handles = [Patch(facecolor=c, edgecolor="0.4", label=name) for name, c in colours.items()]
    handles += [Line2D([], [], label=name, **style) for name, style in (lines or {}).items()]
    if loc.startswith("outside") and fig.get_layout_engine() is None:
        loc = loc.removeprefix("outside").strip()  # "outside" needs a constrained layout
    kwargs = {"ncols": len(handles), "fontsize": 8, **kwargs}
    return fig.legend(handles=handles, title=title, loc=loc, frameon=False, **kwargs)
