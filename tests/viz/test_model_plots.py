from __future__ import annotations

import numpy as np
import torch

from xmodal_lab.models.positions import alibi_2d_bias, alibi_slopes, patch_distances
from xmodal_lab.viz import model_plots as plots


def test_plot_reconstruction_greys_exactly_the_hidden_patches(pairs):
    img = torch.stack([p["s2"] for p in pairs[:2]])
    mask = torch.zeros(2, 16)  # 4x4 patches of 8x8 pixels
    mask[0, [0, 5, 15]] = 1
    low = img[:, :, ::4, ::4]
    fig = plots.plot_reconstruction(img, img * 0.9, mask, low=low, high=img - img.mean())
    assert len(fig.axes) == 2 * 6
    masked = fig.axes[1].get_images()[0].get_array()
    grey = (masked == 128).all(axis=-1)
    assert grey[:8, :8].all() and grey[8:16, 8:16].all() and grey[24:, 24:].all()
    assert grey.sum() <= 3 * 64 + 20  # only chance pixels outside hidden patches equal 128
    # the "reconstruction + visible" panel equals the original where patches were visible
    np.testing.assert_array_equal(
        fig.axes[3].get_images()[0].get_array()[8:, :8], fig.axes[0].get_images()[0].get_array()[8:, :8]
    )


def test_plot_bias_maps_matches_alibi_formula():
    grid, heads, q = (4, 5), 4, 7
    fig = plots.plot_bias_maps(alibi_2d_bias(heads, grid), grid, q)
    assert len(fig.axes) == heads + 1  # panels and colour bar
    for h in range(heads):
        shown = fig.axes[h].get_images()[0].get_array()
        expected = -(alibi_slopes(heads)[h] * patch_distances(grid)[q]).reshape(grid).numpy()
        np.testing.assert_allclose(shown, expected, rtol=1e-6)
        assert shown[q // 5, q % 5] == 0
    assert len(plots.plot_bias_maps(alibi_2d_bias(16, grid)[0], grid, (1, 2)).axes) == 8 + 1


def test_plot_reconstruction_pastes_hidden_patches_in_the_fixed_stretch():
    from xmodal_lab.data.composites import s2_true_color

    img = np.full((1, 12, 16, 16), 0.1, np.float32)
    img[0, :, 8:, :] = 0.2
    rec = np.full_like(img, 0.25)
    mask = np.array([[[1, 0], [0, 0]]])  # top-left 8x8 patch hidden
    fig = plots.plot_reconstruction(img, rec, mask)
    original = fig.axes[0].get_images()[0].get_array()
    np.testing.assert_array_equal(original, s2_true_color(img[0]))  # same pixels as every other figure
    pasted = fig.axes[3].get_images()[0].get_array()
    np.testing.assert_array_equal(pasted[:8, :8], s2_true_color(rec[0])[:8, :8])
    np.testing.assert_array_equal(pasted[8:], original[8:])
    assert "fixed display stretch" in fig._suptitle.get_text()
