"""nn4n's MultiArea / MultiAreaEI block structure, reproduced by the presets, and to_nn4n."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mrnngraph import GraphError, compile
from mrnngraph.io import to_nn4n
from mrnngraph.presets import multi_area, multi_area_ei

PATHWAYS = ("EE", "EI", "IE", "II")


def quiet_compile(G, seed=0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compile(G, seed=seed)


def nn4n_expected(
    sizes,
    conn,
    n_in,
    n_out,
    input_areas=None,
    readout_areas=None,
    exc_pct=None,
    keep=(True, True, True, True),
    inh_readout=True,
):
    """nn4n's rules, written out: probabilities ``[post, pre]``, input/readout masks, signs.

    ``conn`` is already the ``[n, n]`` matrix (entry [i, j] from area j to area i).
    """
    n = len(sizes)
    starts = np.cumsum([0, *sizes])
    idx = [np.arange(starts[i], starts[i + 1]) for i in range(n)]
    H = int(starts[-1])
    if n == 1:
        input_areas = readout_areas = [0]
    input_areas = range(n) if input_areas is None else input_areas
    readout_areas = range(n) if readout_areas is None else readout_areas
    hidden = np.zeros((H, H))
    for i in range(n):
        for j in range(n):
            hidden[np.ix_(idx[i], idx[j])] = conn[i][j]
    inp = np.zeros((H, n_in))
    for i in input_areas:
        inp[idx[i], :] = 1
    out = np.zeros((n_out, H))
    for i in readout_areas:
        out[:, idx[i]] = 1
    signs = np.zeros(H)
    if exc_pct is not None:
        exc = [a[: int(len(a) * exc_pct)] for a in idx]
        inh = [a[int(len(a) * exc_pct) :] for a in idx]
        signs[:] = 1
        for a in inh:
            signs[a] = -1
        groups = {"E": exc, "I": inh}
        for flag, (pre, post) in zip(keep, PATHWAYS, strict=True):
            if flag:
                continue
            for i in range(n):  # post area
                for j in range(n):  # pre area
                    if i != j:
                        hidden[np.ix_(groups[post][i], groups[pre][j])] = 0
        if not inh_readout:
            for a in inh:
                out[:, a] = 0
    return hidden, inp, out, signs


def full(density, n):
    d = np.asarray(density, dtype=float)
    if d.ndim == 2:
        return d
    m = np.full((n, n), d[1])
    m[np.tril_indices(n, -1)] = d[0]
    np.fill_diagonal(m, d[2] if len(d) == 3 else 1.0)
    return m


CASES = [
    # sizes, density, options for the preset
    ([10, 10], [1.0, 0.0], {}),
    ([6, 9, 5], [1.0, 1.0, 0.0], {"input_areas": [0], "readout_areas": [2]}),
    ([8, 8, 8], [[1, 0, 1], [1, 1, 0], [0, 1, 1]], {"n_inputs": 3, "n_outputs": 2}),
    ([12], [0.0, 0.0], {"input_areas": [0], "readout_areas": [0]}),
    ([7, 13], [1.0, 1.0], {"readout_areas": ["area_2"]}),
]
EI_OPTIONS = [
    {"exc_frac": 0.8},
    {"exc_frac": 0.75, "inter_area": ("EE", "EI"), "inh_readout": False},
    {"exc_frac": 0.5, "inter_area": ("IE", "II")},
    {"exc_frac": 0.7, "inter_area": ("EI",), "inh_readout": False},
    {"exc_frac": 0.29, "inter_area": ()},
]


def preset_kwargs(sizes, options):
    areas = [f"area_{i + 1}" for i in range(len(sizes))]
    ref = {"n_in": options.get("n_inputs", 1), "n_out": options.get("n_outputs", 1)}
    for key in ("input_areas", "readout_areas"):
        if key in options:
            ref[key] = [a if isinstance(a, int) else areas.index(a) for a in options[key]]
    return ref


def assert_structure(c, hidden, inp, out, signs):
    mask_hh = c.mask_hh.numpy()
    # Where nn4n draws with probability 0 nothing exists; with probability 1 all does.
    assert not mask_hh[hidden == 0].any()
    assert mask_hh[hidden == 1].all()
    np.testing.assert_array_equal(c.mask_ih.numpy(), inp.astype(bool))
    np.testing.assert_array_equal(c.mask_ho.numpy(), out.astype(bool))
    np.testing.assert_array_equal(c.sign_h.numpy(), signs)


@pytest.mark.parametrize("sizes, density, options", CASES)
def test_multi_area_blocks(sizes, density, options):
    G = multi_area(sizes, density=density, **options)
    c = quiet_compile(G)
    ref = nn4n_expected(sizes, full(density, len(sizes)), **preset_kwargs(sizes, options))
    assert c.layout.regions == tuple(f"area_{i + 1}" for i in range(len(sizes)))
    assert_structure(c, *ref)
    assert not c.sign_i.any()


@pytest.mark.parametrize("ei", EI_OPTIONS)
@pytest.mark.parametrize("sizes, density, options", CASES)
def test_multi_area_ei_blocks(sizes, density, options, ei):
    G = multi_area_ei(sizes, density=density, **options, **ei)
    c = quiet_compile(G)
    keep = tuple(p in ei.get("inter_area", PATHWAYS) for p in PATHWAYS)
    ref = nn4n_expected(
        sizes,
        full(density, len(sizes)),
        **preset_kwargs(sizes, options),
        exc_pct=ei["exc_frac"],
        keep=keep,
        inh_readout=ei.get("inh_readout", True),
    )
    assert_structure(c, *ref)
    # E units first in every area, int(size * exc_frac) of them.
    for a, size in zip(c.layout.regions, sizes, strict=True):
        assert c.layout.n_exc[a] == int(size * ei["exc_frac"])


@pytest.mark.parametrize("seed", [0, 1])
def test_fractional_densities_stay_inside_the_pattern(seed):
    density = [0.3, 0.6, 0.5]
    G = multi_area_ei([20, 30, 10], density=density, inter_area=("EE", "IE"), exc_frac=0.8)
    c = quiet_compile(G, seed=seed)
    hidden, inp, out, signs = nn4n_expected(
        [20, 30, 10], full(density, 3), 1, 1, exc_pct=0.8, keep=(True, False, True, False)
    )
    mask = c.mask_hh.numpy()
    assert not mask[hidden == 0].any()
    for p in (0.3, 0.6, 0.5):  # each probability is a Bernoulli rate
        assert abs(mask[hidden == p].mean() - p) < 0.08
    np.testing.assert_array_equal(c.sign_h.numpy(), signs)


def test_int_sizes_and_density_forms():
    a = multi_area(3, hidden_size=30, density=[0.2, 0.1])
    b = multi_area([10, 10, 10], density=[[1, 0.1, 0.1], [0.2, 1, 0.1], [0.2, 0.2, 1]])
    assert list(a.nodes(data=True)) == list(b.nodes(data=True))
    assert list(a.edges(data=True)) == list(b.edges(data=True))
    c = multi_area(2, hidden_size=20, density=np.array([[0.5, 0.0], [0.3, 0.0]]))
    assert c.edges["area_1", "area_1"]["density"] == 0.5
    assert not c.has_edge("area_2", "area_1") and not c.has_edge("area_2", "area_2")
    assert c.edges["area_1", "area_2"]["density"] == 0.3


def test_multi_area_ei_edge_attributes():
    G = multi_area_ei([10, 10], density=[1.0, 1.0], inter_area=("EE", "EI", "IE", "II"))
    assert "ei" not in G.edges["area_1", "area_2"]
    H = multi_area_ei([10, 10], density=[1.0, 1.0], inter_area=())
    assert not H.has_edge("area_1", "area_2") and H.has_edge("area_1", "area_1")
    # An area without inhibitory units: sub-pathways that cannot exist are not listed.
    K = multi_area_ei([1, 10], density=[1.0, 1.0], exc_frac=0.5, inter_area=("EE", "IE"))
    assert K.nodes["area_1"]["exc_frac"] == 0.5
    assert K.edges["area_1", "area_2"]["ei"] == ["IE"]  # area_1's one unit is inhibitory
    # area_1 has no excitatory target, and EI/II are not kept: no projection at all.
    assert not K.has_edge("area_2", "area_1")
    L = multi_area_ei([1, 4], density=[1.0, 1.0], exc_frac=0.5, inh_readout=False)
    assert not L.has_edge("area_1", "readout")  # no excitatory unit to read


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: multi_area(3, hidden_size=31), ValueError),
        (lambda: multi_area(3), TypeError),
        (lambda: multi_area([10, 0]), ValueError),
        (lambda: multi_area([10, 10], hidden_size=30), ValueError),
        (lambda: multi_area([10, 10], density=[0.1, 0.2, 0.3, 0.4]), ValueError),
        (lambda: multi_area([10, 10], density=np.ones((3, 3))), ValueError),
        (lambda: multi_area([10, 10], density=[0.1, 1.5]), ValueError),
        (lambda: multi_area([10, 10], input_areas=[2]), ValueError),
        (lambda: multi_area([10, 10], readout_areas=["area_9"]), ValueError),
        (lambda: multi_area([10, 10], n_inputs=0), ValueError),
        (lambda: multi_area_ei([10, 10], inter_area=[True, True, False, False]), ValueError),
        (lambda: multi_area_ei([10, 10], inter_area=("EE", "EE")), ValueError),
        (lambda: multi_area_ei([10, 10], inter_area="EE"), ValueError),
        (lambda: multi_area_ei([10, 10], exc_frac=1.2), ValueError),
        (lambda: multi_area_ei([10, 10], inh_readout=1), TypeError),
        (lambda: multi_area(True), TypeError),
    ],
)
def test_bad_arguments(call, error):
    with pytest.raises(error):
        call()


# --------------------------------------------------------------------------- to_nn4n
def test_to_nn4n_masks_in_pre_post_layout():
    sizes, density = [10, 15], [1.0, 0.0, 1.0]
    G = multi_area_ei(
        sizes,
        density=density,
        inter_area=("EE", "EI"),
        n_inputs=2,
        n_outputs=3,
        readout_areas=[1],
        inh_readout=False,
    )
    c = quiet_compile(G)
    d = to_nn4n(c)
    hidden, inp, out, signs = nn4n_expected(
        sizes,
        full(density, 2),
        2,
        3,
        readout_areas=[1],
        exc_pct=0.8,
        keep=(True, True, False, False),
        inh_readout=False,
    )
    assert d["dims"] == [2, 25, 3]
    s_in, s_hid, s_out = d["sparsity_masks"]
    assert (s_in.shape, s_hid.shape, s_out.shape) == ((2, 25), (25, 25), (25, 3))
    np.testing.assert_array_equal(s_hid, hidden.T.astype(np.int64))
    np.testing.assert_array_equal(s_in, inp.T)
    np.testing.assert_array_equal(s_out, out.T)
    e_in, e_hid, e_out = d["ei_masks"]
    assert e_in is None and e_out is None
    np.testing.assert_array_equal(e_hid, np.repeat(signs[:, None], 25, axis=1))
    assert set(np.unique(e_hid)) == {-1, 1}
    spec = d["specs"]
    assert spec["n_areas"] == 2 and spec["areas"] == ["area_1", "area_2"]
    assert spec["area_sizes"] == [10, 15] and spec["hidden_size"] == 25
    np.testing.assert_array_equal(spec["area_connectivities"], [[1.0, 0.0], [1.0, 1.0]])
    assert spec["input_areas"].tolist() == [0, 1] and spec["readout_areas"].tolist() == [1]
    assert spec["exc_pct"] == 0.8 and spec["inh_readout"] is False
    assert spec["inter_area_connections"] == [True, True, False, False]


def test_to_nn4n_graph_and_unconstrained():
    G = multi_area([5, 5], density=[0.5, 0.5])
    d = to_nn4n(G, seed=4)
    assert d["ei_masks"] == [None, None, None]
    assert "exc_pct" not in d["specs"]
    np.testing.assert_array_equal(
        d["sparsity_masks"][1], quiet_compile(G, seed=4).mask_hh.numpy().T
    )
    G.nodes["area_1"]["sign"] = "exc"
    with pytest.raises(GraphError, match="nn4n's ei_masks hold only"):
        to_nn4n(G, seed=0)
    with pytest.raises(TypeError):
        to_nn4n("circuit")
