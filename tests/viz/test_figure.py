from __future__ import annotations

import base64

import matplotlib.pyplot as plt
import numpy as np

from xmodal_lab.viz import figure


def test_a_figure_is_drawn_once_whether_returned_or_shown():
    import matplotlib.pyplot as plt
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        from xmodal_lab.viz.eval_plots import plot_similarity_matrix

        fig = plot_similarity_matrix(np.eye(3))
        assert plt.fignum_exists(fig.number)  # plt.show() finds it
        data, _ = shell.display_formatter.format(fig)
        png = data["image/png"]
        png = base64.b64decode(png) if isinstance(png, str) else png  # IPython 9 hands out base64 text
        assert png[:4] == b"\x89PNG"
        assert not plt.fignum_exists(fig.number)  # drawn once: the inline backend will not draw it again
        mine = plt.figure()
        shell.display_formatter.format(mine)
        assert plt.fignum_exists(mine.number)  # a student's own figure is left alone
    finally:
        InteractiveShell.clear_instance()
        plt.close("all")


def test_grid_frame_and_title():
    fig, axes = figure.grid(2, 3)
    assert axes.shape == (2, 3) and plt.fignum_exists(fig.number)
    rect = figure.frame(axes[1, 2], "#00ff00", "mark")
    assert rect in axes[1, 2].patches and rect.get_gid() == "mark"
    figure.suptitle(fig, None)
    assert fig._suptitle is None
    figure.suptitle(fig, "t")
    assert fig._suptitle.get_text() == "t"
