"""from_adjacency: connectome matrices (strength per area pair) to circuit graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mrnngraph import GraphError
from mrnngraph.io import from_adjacency
from tests.test_io import quiet_compile

FLN = np.array(
    [
        [0.0, 0.02, 0.0, 0.2],
        [0.30, 0.0, 0.001, np.nan],
        [0.05, 0.40, 0.0, 0.0],
        [0.0, 0.0, 0.6, 0.9],
    ]
)
AREAS = ["V1", "V2", "V4", "PFC"]


def test_adjacency_mapping_problems_name_the_edge_and_attribute():
    with pytest.raises(GraphError) as info:
        from_adjacency(
            FLN,
            AREAS,
            10,
            threshold=0.01,
            density=lambda w: 2.0 if w > 0.1 else 0.5,
            gain=lambda w: -1.0,
        )
    found = {(p.edge, p.attribute) for p in info.value.problems}
    # FLN[0, 1] = 0.02 is V1 <- V2 (dst_src): its density maps fine, its gain does not.
    assert ((AREAS[1], AREAS[0]), "gain") in found
    assert {a for _, a in found} == {"density", "gain"}
    assert all(
        str(p).startswith(f"edge ({p.edge[0]!r}, {p.edge[1]!r}): strength")
        for p in info.value.problems
    )


def test_adjacency_orientation_and_threshold():
    G = from_adjacency(FLN, AREAS, 10, threshold=0.01)
    assert sorted(G.edges) == sorted(
        [
            ("V2", "V1"),
            ("PFC", "V1"),
            ("V1", "V2"),
            ("V1", "V4"),
            ("V2", "V4"),
            ("V4", "PFC"),
            ("PFC", "PFC"),
        ]
    )
    assert all(d["density"] == 1.0 for *_, d in G.edges(data=True))
    assert G.edges["V1", "V2"]["meta"] == {"strength": 0.3}
    H = from_adjacency(FLN.T, AREAS, 10, threshold=0.01, orientation="src_dst")
    assert list(H.edges(data=True)) == list(G.edges(data=True))
    # threshold 0: every positive entry is kept, NaN never
    assert ("V4", "V2") in from_adjacency(FLN, AREAS, 10).edges
    assert ("PFC", "V2") not in from_adjacency(FLN, AREAS, 10).edges


def test_adjacency_mappings():
    G = from_adjacency(
        FLN,
        AREAS,
        [8, 8, 6, 6],
        threshold=0.01,
        density="log",
        density_range=(0.1, 0.5),
        gain="linear",
        gain_range=(1.0, 3.0),
    )
    dens = {(u, v): d["density"] for u, v, d in G.edges(data=True)}
    assert dens[("V2", "V4")] == pytest.approx(
        0.1 + 0.4 * math.log(0.4 / 0.02) / math.log(0.9 / 0.02)
    )
    assert dens[("V2", "V1")] == pytest.approx(0.1) and dens[("PFC", "PFC")] == pytest.approx(0.5)
    assert G.edges["PFC", "PFC"]["gain"] == pytest.approx(3.0)
    assert "gain" not in G.edges["V2", "V1"]  # gain 1.0 is the default
    H = from_adjacency(
        FLN,
        AREAS,
        5,
        threshold=0.01,
        density=lambda w: min(1.0, 2 * w),
        gain=0.5,
        rule="fixed_indegree",
        exc_frac=0.8,
        ei=["EE", "EI"],
        self_density=0.2,
        input_to=["V1"],
        readout_from="PFC",
        n_outputs=2,
        name="fln",
    )
    assert H.edges["V1", "V2"]["density"] == pytest.approx(0.6)
    assert H.edges["V1", "V2"]["ei"] == ["EE", "EI"] and H.edges["V1", "V2"]["gain"] == 0.5
    assert H.edges["V1", "V1"] == {"density": 0.2, "autapses": False, "rule": "fixed_indegree"}
    assert H.edges["PFC", "PFC"]["density"] == 0.2
    assert list(H) == ["input", *AREAS, "readout"] and H.graph["name"] == "fln"
    c = quiet_compile(H)
    assert c.layout.hidden_size == 20 and c.layout.output_size == 2


def test_adjacency_signs_per_region():
    G = from_adjacency(FLN, AREAS, 4, sign=["exc", "exc", "inh", None])
    assert [G.nodes[a].get("sign") for a in AREAS] == ["exc", "exc", "inh", None]


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"matrix": FLN[:3]}, "shape (4, 4)"),
        ({"names": ["V1", "V1", "V4", "PFC"]}, "more than once"),
        ({"names": ["V1", "", "V4", "PFC"]}, "non-empty strings"),
        ({"sizes": [1, 2]}, "sizes has 2 values for 4 regions"),
        ({"exc_frac": [0.8]}, "exc_frac has 1 values"),
        ({"orientation": "rows"}, "orientation must be"),
        ({"density": "sqrt"}, "density must be a float"),
        ({"density": lambda w: 2.0}, "outside [0, 1]"),
        ({"gain": lambda w: -w}, "gains must be > 0"),
        ({"matrix": -FLN}, "finite and >= 0"),
        ({"self_density": 1.5}, "self_density"),
        ({"input_to": ["MT"]}, "unknown region 'MT'"),
        ({"sizes": 0}, "'size'"),
    ],
)
def test_adjacency_errors(kwargs, fragment):
    args = {"matrix": FLN, "names": AREAS, "sizes": 4, "threshold": 0.01} | kwargs
    with pytest.raises(GraphError) as err:
        from_adjacency(args.pop("matrix"), args.pop("names"), args.pop("sizes"), **args)
    assert any(fragment in str(p) for p in err.value.problems), err.value.problems


def test_adjacency_lists_every_problem_and_type_errors():
    with pytest.raises(GraphError) as err:
        from_adjacency(FLN[:3], ["a", "a"], [1, 2, 3], orientation="x")
    assert len(err.value.problems) == 4
    with pytest.raises(TypeError):
        from_adjacency([["a", "b"], ["c", "d"]], ["x", "y"], 2)
    with pytest.raises(TypeError):
        from_adjacency(FLN, "V1", 2)
