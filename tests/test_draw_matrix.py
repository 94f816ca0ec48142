"""plot_connectivity: the compiled weights, masks and signs by region, tested by content."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import mrnngraph  # noqa: E402
from mrnngraph.drawing import plot_connectivity  # noqa: E402
from mrnngraph.presets import cbgt_loop, two_area_ei  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def boundary_lines(ax, block: str, axis: str) -> list[float]:
    out = []
    for line in ax.lines:
        gid = line.get_gid() or ""
        if gid.startswith(f"mrnngraph:boundary:{block}:{axis}:"):
            data = line.get_xdata() if axis == "x" else line.get_ydata()
            out.append(float(data[0]))
    return sorted(out)


def all_axes_by_block(ax) -> dict[str, object]:
    out = {}
    for a in ax.figure.axes:
        for im in a.images:
            gid = im.get_gid() or ""
            if gid.startswith("mrnngraph:matrix:"):
                out[gid.rsplit(":", 1)[1]] = a
    return out


def test_region_boundaries_and_names_match_the_layout():
    circuit = mrnngraph.compile(cbgt_loop(), seed=0)
    lay = circuit.layout
    ax = plot_connectivity(circuit)
    stops = [lay.slice(r).stop for r in lay.regions[:-1]]
    assert boundary_lines(ax, "hh", "x") == stops
    assert boundary_lines(ax, "hh", "y") == stops
    centres = [(lay.slice(r).start + lay.slice(r).stop) / 2 for r in lay.regions]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(lay.regions)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(lay.regions)
    np.testing.assert_allclose(ax.get_xticks(), centres)
    np.testing.assert_allclose(ax.get_yticks(), centres)
    assert "source" in ax.get_xlabel() and "destination" in ax.get_ylabel()
    H = lay.hidden_size
    assert ax.images[0].get_extent() == [0, H, H, 0]


def test_input_and_output_blocks_sit_beside_the_recurrent_one():
    circuit = mrnngraph.compile(cbgt_loop(n_inputs=3, n_outputs=2), seed=0)
    lay = circuit.layout
    ax = plot_connectivity(circuit, blocks=("hh", "ih", "ho"))
    blocks = all_axes_by_block(ax)
    assert set(blocks) == {"hh", "ih", "ho"} and blocks["hh"] is ax
    stops = [lay.slice(r).stop for r in lay.regions[:-1]]
    assert boundary_lines(blocks["ih"], "ih", "y") == stops  # rows: the same regions
    assert boundary_lines(blocks["ho"], "ho", "x") == stops  # columns: the same regions
    assert blocks["ih"].images[0].get_array().shape == (lay.hidden_size, lay.input_size)
    assert blocks["ho"].images[0].get_array().shape == (lay.output_size, lay.hidden_size)
    # Left of hh and below it, sharing its rows and its columns.
    ax.figure.canvas.draw()
    hh_box, ih_box = ax.get_position(), blocks["ih"].get_position()
    assert ih_box.x1 <= hh_box.x0 + 1e-6 and blocks["ho"].get_position().y1 <= hh_box.y0 + 1e-6
    names = [t.get_text() for t in blocks["ih"].get_yticklabels() if t.get_visible()]
    assert names == list(lay.regions)
    assert [t.get_text() for t in blocks["ho"].get_yticklabels()] == list(lay.outputs)


def test_weights_use_a_diverging_map_centred_on_zero():
    circuit = mrnngraph.compile(two_area_ei(size=30), seed=0)
    image = plot_connectivity(circuit).images[0]
    norm = image.norm
    assert norm.vcenter == 0 and norm.vmin == -norm.vmax
    assert image.get_cmap().name.startswith("RdBu_r")
    np.testing.assert_array_equal(np.asarray(image.get_array()), circuit.weight_hh.numpy())
    colorbars = [a for a in image.axes.figure.axes if a.get_gid() == "mrnngraph:colorbar"]
    assert len(colorbars) == 1


def test_mask_and_sign_views():
    circuit = mrnngraph.compile(cbgt_loop(), seed=0)
    mask = np.asarray(plot_connectivity(circuit, "mask").images[0].get_array())
    np.testing.assert_array_equal(mask, circuit.mask_hh.numpy().astype(float))
    sign = plot_connectivity(circuit, "sign").images[0].get_array()
    m = circuit.mask_hh.numpy()
    expected = np.broadcast_to(circuit.sign_h.numpy()[None, :], m.shape)
    np.testing.assert_array_equal(np.asarray(sign)[m], expected[m])
    assert np.isnan(np.asarray(sign, dtype=float)[~m]).all()


def test_a_model_shows_its_current_effective_weights():
    model = mrnngraph.MultiRegionRNN.from_graph(two_area_ei(size=20), seed=0)
    with torch.no_grad():
        raw = model.parametrizations.weight_hh.original
        raw.mul_(-3.0)  # flips signs of raw weights; Dale's law keeps the effective ones
    image = plot_connectivity(model).images[0]
    np.testing.assert_allclose(
        np.asarray(image.get_array()), model.weight_hh.detach().numpy(), rtol=1e-6
    )
    assert not np.allclose(np.asarray(image.get_array()), model.circuit.weight_hh.numpy())


def test_large_circuits_are_averaged_over_tiles_with_boundaries_kept():
    G = nx.DiGraph()
    G.add_node("u", kind="input", size=2)
    for name, size in (("a", 250), ("b", 130), ("c", 220)):
        G.add_node(name, size=size, exc_frac=0.8)
    G.add_edges_from([("u", "a"), ("a", "b"), ("b", "c"), ("c", "a"), ("a", "a")])
    circuit = mrnngraph.compile(G, seed=0)
    ax = plot_connectivity(circuit, "mask", max_pixels=100)
    data = np.asarray(ax.images[0].get_array())
    assert max(data.shape) <= 100 and data.min() >= 0 and data.max() <= 1
    assert 0 < data[0, 0] < 1 or data[0, 0] in (0, 1)
    assert boundary_lines(ax, "hh", "x") == [250, 380]
    assert ax.images[0].get_extent() == [0, 600, 600, 0]


def test_plot_connectivity_rejects_bad_arguments():
    circuit = mrnngraph.compile(two_area_ei(size=10), seed=0)
    with pytest.raises(TypeError, match="CompiledCircuit"):
        plot_connectivity(two_area_ei())
    with pytest.raises(ValueError, match="which"):
        plot_connectivity(circuit, "weights")
    with pytest.raises(ValueError, match="blocks"):
        plot_connectivity(circuit, blocks=("hx",))
