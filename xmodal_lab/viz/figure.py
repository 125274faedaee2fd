"""How the package makes matplotlib figures: owned by pyplot, shown once in a notebook, laid out on grids.

Every figure function of :mod:`xmodal_lab.viz` starts from :func:`new_figure`, so that
``fig = plot_...(); plt.show()``, a bare ``plot_...()`` as the last line of a cell and a figure made inside a
loop all show exactly once, and everything works without a display.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

#: Attribute marking the figures this package makes, so that only they are closed once displayed.
_MARK = "_xmodal_lab_figure"


def new_figure(**kwargs: Any):
    """A pyplot figure that a notebook shows exactly once, however the cell ends.

    ``fig = plot_...(); plt.show()``, a bare ``plot_...()`` as the last line, and a figure made inside a loop
    all show once: the figure belongs to pyplot (so ``plt.show()`` and the inline backend find it) and is
    closed as soon as a notebook has drawn it (so the inline backend does not draw it a second time).

    Args:
        **kwargs: passed to ``matplotlib.pyplot.figure`` (``figsize``, ``layout`` ...).

    Returns:
        ``matplotlib.figure.Figure``.
    """
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
    """Make IPython draw this package's figures once when a cell shows them; outside IPython, nothing.

    Registers a PNG formatter for figures when none is there (an ``Agg`` backend registers none, so a
    returned figure would print as text), and wraps every figure formatter so that a figure of this package
    leaves pyplot once drawn (see :func:`new_figure`). Other figures are drawn as before.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or not hasattr(shell, "display_formatter"):
        return
    from IPython.core.pylabtools import select_figure_formats
    from matplotlib.figure import Figure

    formatters = shell.display_formatter.formatters
    if not any(Figure in f.type_printers for f in formatters.values()):
        select_figure_formats(shell, {"png"})
    for formatter in formatters.values():
        render = formatter.type_printers.get(Figure)
        if render is not None and not getattr(render, "xmodal_lab_once", False):
            formatter.for_type(Figure, _close_after(render))


def figure_axes(ax=None, **kwargs: Any):
    """The figure of ``ax``, or a new figure (:func:`new_figure`) with one axes when ``ax`` is None.

    Args:
        ax: matplotlib axes to draw into, or None.
        **kwargs: passed to :func:`new_figure` for a new figure.

    Returns:
        ``(figure, axes)``.
    """
    if ax is None:
        fig = new_figure(**kwargs)
        return fig, fig.add_subplot()
    return ax.figure, ax


def grid(rows: int, cols: int, size: float = 2.4, **kwargs: Any) -> tuple[Figure, np.ndarray]:
    """A new figure with a ``rows x cols`` grid of axes, ``size`` inches per panel.

    Returns:
        ``(figure, axes)`` with ``axes`` a ``[rows, cols]`` array.
    """
    fig = new_figure(figsize=(size * cols, size * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False, **kwargs))
    return fig, axes


def bare_axes(ax) -> None:
    """Remove the ticks of an axes showing an image."""
    ax.set_xticks([])
    ax.set_yticks([])


def frame(ax, colour: str, gid: str, width: float = 5.0) -> Rectangle:
    """Frame a whole axes with a coloured rectangle that tests and readers can find by ``gid``."""
    rect = Rectangle(
        (0, 0), 1, 1, transform=ax.transAxes, fill=False, edgecolor=colour, linewidth=width, clip_on=False
    )
    rect.set_gid(gid)
    ax.add_patch(rect)
    return rect


def suptitle(fig: Figure, title: str | None) -> None:
    """Give a figure a title when one is asked for."""
    if title:
        fig.suptitle(title, fontsize=11)
