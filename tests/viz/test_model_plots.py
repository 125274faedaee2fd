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


def test_plot_reconstruction_denormalises_norm_pix_predictions():
    rng = np.random.default_rng(0)
    img = rng.uniform(0.05, 0.25, size=(1, 12, 16, 16)).astype(np.float32)
    # the per-patch standardised image: what a perfect norm-pix model predicts
    blocks = img.reshape(1, 12, 2, 8, 2, 8)
    mu, sd = blocks.mean(axis=(3, 5), keepdims=True), np.sqrt(blocks.var(axis=(3, 5), keepdims=True) + 1e-6)
    normed = ((blocks - mu) / sd).reshape(img.shape)
    np.testing.assert_allclose(plots.denormalise_patches(normed[0], img[0], 8), img[0], atol=1e-5)
    fig = plots.plot_reconstruction(img, normed, np.ones((1, 4)), norm_pix=True)
    np.testing.assert_array_equal(
        fig.axes[2].get_images()[0].get_array(), fig.axes[0].get_images()[0].get_array()
    )
    assert "de-normalised" in fig._suptitle.get_text()


def test_plot_mask_pair_key_and_independence_count():
    mr = np.array([1, 1, 0, 0, 1, 1, 1, 1])  # 6 of 8 hidden
    mo = np.array([1, 0, 1, 0, 1, 1, 1, 1])
    fig = plots.plot_mask_pair(mr, mo, (2, 4))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["radar only (1)", "optical only (1)", "visible in both (1)", "hidden in both (5)"]
    # independence: 8 * (2/8) * (2/8) = 0.5
    assert ax.get_title() == "visible in both: 1 patches (independent masks expect 0.5)"
    np.testing.assert_array_equal(ax.get_images()[0].get_array(), [[3, 1, 0, 2], [3, 3, 3, 3]])
