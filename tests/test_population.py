"""Per-region PCA (mrnngraph.analysis.population), on planted low-dimensional structure."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mrnngraph import MultiRegionRNN  # noqa: E402
from mrnngraph.analysis.population import PopulationPCA, pca  # noqa: E402
from mrnngraph.analysis.population_plots import plot_trajectories  # noqa: E402
from mrnngraph.presets.examples import two_area_ei  # noqa: E402
from mrnngraph.recording import Recording, activity  # noqa: E402


def orthonormal(rng, n, k):
    q, _ = np.linalg.qr(rng.normal(size=(n, k)))
    return q.T  # (k, n), orthonormal rows


def test_planted_dimensionality_and_variance_ratios_are_recovered():
    rng = np.random.default_rng(0)
    axes = orthonormal(rng, 40, 3)
    sd = np.array([3.0, 2.0, 1.0])  # variances 9 : 4 : 1
    latent = rng.normal(size=(200, 25, 3)) * sd
    x = latent @ axes + 1e-3 * rng.normal(size=(200, 25, 40)) + 5.0
    flat = rng.normal(size=(200, 25, 6))  # isotropic: no low-dim structure
    rec = Recording({"low": x, "flat": flat}, dt=10.0)
    res = pca(rec, 5)
    assert isinstance(res, PopulationPCA) and res.fitted_on == "single trials"
    ratio = res["low"].explained_variance_ratio
    np.testing.assert_allclose(ratio[:3], [9 / 14, 4 / 14, 1 / 14], atol=0.02)
    assert ratio[3:].sum() < 1e-4  # three dimensions, no more
    # The components span the planted axes (principal angles near 0).
    overlap = np.linalg.svd(res["low"].components[:3] @ axes.T, compute_uv=False)
    assert overlap.min() > 0.999
    stored = rec.rates["low"]  # float32, as the Recording keeps it
    np.testing.assert_allclose(res["low"].mean, stored.reshape(-1, 40).mean(0, dtype=float))
    assert res["flat"].explained_variance_ratio[0] < 0.25
    proj = res["low"].projections
    assert proj.shape == (200, 25, 5)
    np.testing.assert_allclose(
        proj, (stored - res["low"].mean) @ res["low"].components.T, atol=1e-8
    )
    np.testing.assert_allclose(
        res["low"].explained_variance[:3], proj.reshape(-1, 5).var(0, ddof=1)[:3], rtol=1e-6
    )


def test_condition_averages_find_the_condition_axis_single_trials_the_noise():
    rng = np.random.default_rng(1)
    cond_axis, noise_axis = orthonormal(rng, 30, 2)
    n, T = 240, 20
    cond = np.repeat([-1.0, 0.0, 1.0], n // 3)
    ramp = np.linspace(0, 1, T)
    x = (
        cond[:, None, None] * ramp[None, :, None] * cond_axis
        + 2.0 * rng.normal(size=(n, T, 1)) * noise_axis  # big trial-to-trial noise
        + 0.05 * rng.normal(size=(n, T, 30))
    )
    rec = Recording({"r": x}, dt=10.0, trials={"coh": cond})
    avg = pca(rec, 2, trial_average_by="coh")
    single = pca(rec, 2)
    assert avg.fitted_on == "condition averages" and avg.by == "coh"
    np.testing.assert_array_equal(avg.conditions, [-1.0, 0.0, 1.0])
    assert abs(avg["r"].components[0] @ cond_axis) > 0.95
    assert abs(single["r"].components[0] @ noise_axis) > 0.95
    cp = avg["r"].condition_projections
    assert cp.shape == (3, T, 2)
    # Projection is linear: the condition means of the single-trial projections.
    for k in range(3):
        np.testing.assert_allclose(
            cp[k], avg["r"].projections[avg.condition_index == k].mean(0), atol=1e-9
        )


def test_components_are_clipped_to_the_region_and_signs_are_fixed():
    rng = np.random.default_rng(2)
    rec = Recording(
        {"small": rng.normal(size=(10, 5, 2)), "big": rng.normal(size=(10, 5, 8))}, dt=1.0
    )
    res = pca(rec, 4)
    assert res["small"].n_components == 2 and res["big"].n_components == 4
    for p in res.regions.values():
        big = np.abs(p.components).argmax(1)
        assert np.all(p.components[np.arange(p.n_components), big] > 0)
        np.testing.assert_allclose(
            p.components @ p.components.T, np.eye(p.n_components), atol=1e-10
        )


def test_pca_of_a_models_activity():
    model = MultiRegionRNN.from_graph(two_area_ei(size=10), seed=0)
    u = torch.rand(6, 12, 3, generator=torch.Generator().manual_seed(0))
    rec = activity(model, u, trials={"c": np.array([0, 1, 0, 1, 0, 1])})
    res = pca(rec, 3, trial_average_by="c", regions="a1")
    assert list(res.regions) == ["a1"]
    assert res["a1"].projections.shape == (6, 12, 3)
    np.testing.assert_allclose(res.times, np.arange(12) * model.dt)


def test_errors():
    rec = Recording({"a": np.zeros((4, 3, 2))}, dt=1.0)
    with pytest.raises(ValueError, match="n_components"):
        pca(rec, 0)
    with pytest.raises(KeyError, match="no trial variable"):
        pca(rec, 2, trial_average_by="choice")
    with pytest.raises(ValueError, match=r"shape \(4,\)"):
        pca(rec, 2, trial_average_by=np.zeros(3))


def test_plot_trajectories_colours_conditions_and_labels_axes():
    rng = np.random.default_rng(3)
    cond = np.repeat([0, 1, 2], 4)
    rec = Recording(
        {
            "a": rng.normal(size=(12, 6, 5)),
            "b": rng.normal(size=(12, 6, 4)),
            "c": rng.normal(size=(12, 6, 3)),
        },
        dt=10.0,
        trials={"k": cond},
    )
    res = pca(rec, 2, trial_average_by="k")
    fig = plot_trajectories(res, ncols=2)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["a", "b", "c"]
    ax = visible[0]
    assert len(ax.lines) == 3 * 3  # trajectory + start + end per condition
    colors = {ln.get_color() for ln in ax.lines if ln.get_label() in ("0", "1", "2")}
    assert len(colors) == 3
    ev = res["a"].explained_variance_ratio
    assert ax.get_xlabel() == f"PC 1 ({100 * ev[0]:.0f}% var)"
    assert fig.legends and fig.legends[0].get_title().get_text() == "k"
    single = plot_trajectories(pca(rec, 2), max_trials=5)
    assert len(single.axes[0].lines) == 5 * 3
    plt.close("all")
