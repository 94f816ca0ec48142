"""Cross-validated decoding by region (mrnngraph.analysis.decoding), on planted ground truth."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from mrnngraph.analysis.decoding import (  # noqa: E402
    DecodingResult,
    _ridge_fit,
    _ridge_predict,
    decode,
    stratified_folds,
)
from mrnngraph.analysis.population_plots import plot_decoding  # noqa: E402
from mrnngraph.recording import Recording  # noqa: E402


def planted(n=120, T=10, n_classes=2, onset=5, seed=0):
    """'enc' encodes the class from bin ``onset`` on (3 neurons per class shift);
    'noise' never does."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    enc = rng.normal(size=(n, T, 12))
    for c in range(n_classes):
        enc[y == c, onset:, 3 * c : 3 * c + 3] += 3.0
    noise = rng.normal(size=(n, T, 12))
    return Recording({"enc": enc, "noise": noise}, dt=20.0, trials={"y": y}), y


@pytest.mark.parametrize("n_classes", [2, 3])
def test_region_that_encodes_decodes_and_one_that_does_not_stays_at_chance(n_classes):
    rec, _ = planted(n_classes=n_classes)
    res = decode(rec, "y", folds=5, seed=0)
    assert isinstance(res, DecodingResult)
    assert res.metric == "accuracy" and res.kind == "classification"
    assert res.chance == pytest.approx(1 / n_classes)
    assert res["enc"].shape == (10,) and res.folds["enc"].shape == (5, 10)
    assert np.all(res["enc"][5:] > 0.95)
    # Before the onset, and in the other region, nothing to decode: near chance.
    assert abs(res["enc"][:5].mean() - res.chance) < 0.12
    assert abs(res["noise"].mean() - res.chance) < 0.1
    assert res["noise"].max() < res.chance + 0.25
    np.testing.assert_allclose(res.times, np.arange(10) * 20.0)
    assert res.peak()["enc"][1] >= 100.0


def test_continuous_variable_gives_r2():
    rng = np.random.default_rng(1)
    n = 150
    y = rng.normal(size=n)
    enc = rng.normal(size=(n, 4, 10)) * 0.2
    enc[..., 3] += y[:, None]  # one neuron carries y linearly
    rec = Recording({"enc": enc, "noise": rng.normal(size=(n, 4, 10))}, dt=10.0, trials={"y": y})
    res = decode(rec, "y")
    assert res.metric == "r2" and res.kind == "regression" and res.chance == 0.0
    assert np.all(res["enc"] > 0.9)
    assert np.all(res["noise"] < 0.1)


def test_labels_by_name_or_array_give_the_same_result_and_seed_is_reproducible():
    rec, y = planted()
    a = decode(rec, "y", seed=3)
    b = decode(rec, y, seed=3)
    c = decode(rec, y.astype(str), seed=3)  # string classes work the same
    for r in rec.regions:
        np.testing.assert_array_equal(a.folds[r], b.folds[r])
        np.testing.assert_array_equal(a.folds[r], c.folds[r])
    assert a.label == "y" and b.label is None
    d = decode(rec, "y", seed=4)
    assert not np.array_equal(a.folds["noise"], d.folds["noise"])


def test_scores_do_not_depend_on_the_unit_of_the_rates():
    rec, y = planted()
    a = decode(rec, "y")
    scaled = Recording({r: 1000.0 * x + 7.0 for r, x in rec.rates.items()}, dt=rec.dt)
    b = decode(scaled, y)
    for r in rec.regions:
        np.testing.assert_array_equal(a.folds[r], b.folds[r])


def test_bins_are_decoded_independently_whatever_the_chunking(monkeypatch):
    import mrnngraph.analysis.decoding as decoding

    rec, y = planted(n=60, T=6)
    whole = decode(rec, y)
    monkeypatch.setattr(decoding, "_CHUNK", 1)  # one bin per batched fit
    chunked = decode(rec, y)
    for r in rec.regions:
        np.testing.assert_array_equal(whole.folds[r], chunked.folds[r])
        np.testing.assert_array_equal(whole.alpha[r], chunked.alpha[r])


def test_windows_average_bins():
    rec, _ = planted(T=10)
    res = decode(rec, "y", window=4)
    assert res["enc"].shape == (3,)  # bins 0-3, 4-7, 8-9
    np.testing.assert_allclose(res.times, [30.0, 110.0, 170.0])
    assert res["enc"][2] > 0.95 and res.window == 4


def test_regions_option_and_torch_tensors():
    rec, y = planted()
    res = decode(rec, torch.as_tensor(y), regions="enc")
    assert res.regions == ["enc"]


@given(st.lists(st.integers(0, 3), min_size=10, max_size=60), st.integers(2, 5), st.integers(0, 10))
def test_stratified_folds_spread_every_class_evenly(labels, folds, seed):
    y = np.asarray(labels)
    fold = stratified_folds(y, y.size, folds, seed)
    sizes = np.bincount(fold, minlength=folds)
    assert sizes.max() - sizes.min() <= 1
    for c in np.unique(y):
        per = np.bincount(fold[y == c], minlength=folds)
        assert per.max() - per.min() <= 1
    np.testing.assert_array_equal(fold, stratified_folds(y, y.size, folds, seed))


def test_ridge_matches_the_closed_form_and_leave_one_out_matches_refits():
    rng = np.random.default_rng(2)
    for n, p in ((16, 6), (8, 15)):  # primal and dual branches
        x = torch.as_tensor(rng.normal(size=(1, n, p)))
        y = torch.as_tensor(rng.normal(size=(n, 2)))
        alpha = 0.7
        coef, icpt, mu, sd, best = _ridge_fit(x, y, torch.tensor([alpha], dtype=torch.float64))
        z = (x[0] - mu[0]) / sd[0]
        ref = torch.linalg.solve(
            z.T @ z + alpha * torch.eye(p, dtype=torch.float64), z.T @ (y - y.mean(0))
        )
        torch.testing.assert_close(coef[0], ref)
        torch.testing.assert_close(icpt[0], y.mean(0))
        # The chosen penalty minimises the leave-one-out error computed by refitting
        # (features scaled once on all trials, as in the closed form).
        alphas = torch.tensor([0.01, 1.0, 100.0], dtype=torch.float64)
        *_, chosen = _ridge_fit(x, y, alphas)
        errs = []
        for a in alphas:
            e = 0.0
            for i in range(n):
                keep = torch.arange(n) != i
                zk, yk = z[keep], y[keep]
                zm, ym = zk.mean(0), yk.mean(0)
                w = torch.linalg.solve(
                    (zk - zm).T @ (zk - zm) + a * torch.eye(p, dtype=torch.float64),
                    (zk - zm).T @ (yk - ym),
                )
                e += float(((z[i] - zm) @ w + ym - y[i]).pow(2).sum())
            errs.append(e)
        assert float(chosen[0]) == float(alphas[int(np.argmin(errs))])
        pred = _ridge_predict(x, coef, icpt, mu, sd)
        torch.testing.assert_close(pred[0], z @ ref + y.mean(0))


def test_errors_name_what_is_wrong():
    rec, y = planted(n=40)
    with pytest.raises(KeyError, match="no trial variable 'choice'"):
        decode(rec, "choice")
    with pytest.raises(ValueError, match=r"shape \(40,\)"):
        decode(rec, y[:10])
    with pytest.raises(ValueError, match="single class"):
        decode(rec, np.zeros(40, dtype=int))
    with pytest.raises(ValueError, match=r"classes \[2\] have fewer trials than folds"):
        decode(rec, np.r_[y[:-2], 2, 2])
    with pytest.raises(ValueError, match="folds must be an integer >= 2"):
        decode(rec, y, folds=1)
    with pytest.raises(KeyError, match="no region 'm2'"):
        decode(rec, y, regions=["m2"])
    with pytest.raises(ValueError, match="alphas"):
        decode(rec, y, alphas=[0.0])
    with pytest.raises(ValueError, match="window"):
        decode(rec, y, window=0)
    with pytest.raises(TypeError, match="Recording"):
        decode({"enc": np.zeros((4, 2, 2))}, y)


def test_plot_decoding_draws_each_region_with_spread_and_chance():
    rec, _ = planted()
    res = decode(rec, "y")
    ax = plot_decoding(res, events={"stimulus": 100.0})
    labels = [ln.get_label() for ln in ax.lines]
    assert "enc" in labels and "noise" in labels and "chance (0.50)" in labels
    chance = ax.lines[labels.index("chance (0.50)")]
    assert list(chance.get_ydata()) == [0.5, 0.5]
    enc = ax.lines[labels.index("enc")]
    np.testing.assert_allclose(enc.get_ydata(), res["enc"])
    assert len(ax.collections) == 2  # one spread band per region
    assert ax.get_ylabel() == "decoding accuracy" and ax.get_xlabel() == "time (ms)"
    assert any(t.get_text().strip() == "stimulus" for t in ax.texts)
    assert "'y'" in ax.get_title()
    with pytest.raises(KeyError, match="not in the result"):
        plot_decoding(res, regions=["x"])
    plt.close("all")
