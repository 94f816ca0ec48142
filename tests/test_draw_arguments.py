"""draw()'s options are checked one way (mrnngraph._params): TypeError for the wrong
kind, ValueError for the wrong value, each naming the option."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mrnngraph.drawing import draw, plot_connectivity, to_dot  # noqa: E402
from mrnngraph.presets import two_area_ei  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    "options, error, text",
    [
        ({"font_size": "big"}, TypeError, "font_size must be a float > 0; got 'big'"),
        ({"font_size": 0}, ValueError, "font_size must be a float > 0; got 0"),
        ({"node_scale": -1.0}, ValueError, "node_scale must be a float > 0"),
        ({"lw_min": -0.5}, ValueError, "lw_min must be a float >= 0"),
        ({"lw_max": float("nan")}, ValueError, "lw_max must be a float > 0"),
        ({"edge_alpha": 1.5}, ValueError, "edge_alpha must be a float in [0, 1] or None"),
        ({"edge_alpha": "half"}, TypeError, "edge_alpha must be"),
        ({"legend": 1}, TypeError, "legend must be a bool"),
        ({"show_sizes": "yes"}, TypeError, "show_sizes must be a bool"),
        ({"engine": "tikz"}, ValueError, "engine must be one of 'matplotlib', 'graphviz'"),
        ({"colors": ["red"]}, TypeError, "colors must be a dict; got a list"),
    ],
)
def test_bad_options_name_themselves(options, error, text):
    with pytest.raises(error) as err:
        draw(two_area_ei(), **options)
    assert text in str(err.value)


def test_good_options_are_used():
    ax = draw(two_area_ei(), font_size=12, edge_alpha=0.5, lw_max=6)
    edges = [a for a in ax.get_children() if (a.get_gid() or "").startswith("mrnngraph:edge:")]
    assert {a.get_alpha() for a in edges} == {0.5}
    assert max(a.get_linewidth() for a in edges) == pytest.approx(6.0)


def test_other_functions_check_their_arguments_too():
    with pytest.raises(ValueError, match="rankdir must be one of 'LR', 'TB', 'RL', 'BT'"):
        to_dot(two_area_ei(), rankdir="UP")
    import mrnngraph

    circuit = mrnngraph.compile(two_area_ei(), seed=0)
    with pytest.raises(ValueError, match="which must be one of 'weight', 'mask', 'sign'"):
        plot_connectivity(circuit, "strength")
    with pytest.raises(ValueError, match="max_pixels must be an integer >= 16; got 8"):
        plot_connectivity(circuit, max_pixels=8)
    with pytest.raises(TypeError, match="max_pixels must be an integer >= 16; got 100.5"):
        plot_connectivity(circuit, max_pixels=100.5)
