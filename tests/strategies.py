"""Hypothesis strategies for random valid circuit graphs (shared by the property tests)."""

from __future__ import annotations

import networkx as nx
from hypothesis import strategies as st

from mrnngraph.schema import RULES


@st.composite
def node_types(draw):
    choice = draw(st.sampled_from(["exc", "inh", "free", "mixed"]))
    if choice == "mixed":
        return {"exc_frac": draw(st.sampled_from([0.25, 0.5, 0.8, 1.0, 0.0]))}
    if choice == "free":
        return {}
    return {"sign": draw(st.sampled_from([choice, "pos" if choice == "exc" else "neg"]))}


def _types(G, n):
    d = G.nodes[n]
    if d.get("kind") == "output":
        return None
    if "exc_frac" in d:
        ne = int(d["size"] * d["exc_frac"])
        return {t for t, k in (("E", ne), ("I", d["size"] - ne)) if k > 0}
    s = d.get("sign")
    if s is None:
        return None
    return {"E"} if s in ("exc", "pos") else {"I"}


@st.composite
def valid_graphs(draw, max_regions: int = 4, max_size: int = 12):
    G = nx.DiGraph()
    n_in = draw(st.integers(0, 2))
    n_rec = draw(st.integers(1, max_regions))
    n_out = draw(st.integers(0, 2))
    for i in range(n_in):
        G.add_node(f"in{i}", kind="input", size=draw(st.integers(1, 4)), **draw(node_types()))
    for i in range(n_rec):
        attrs = {"size": draw(st.integers(1, max_size)), **draw(node_types())}
        if draw(st.booleans()):
            attrs["tau"] = draw(st.sampled_from([20.0, 50.0, 200.0]))
        if draw(st.booleans()):
            attrs["base_firing"] = draw(st.floats(-1, 1))
        if draw(st.booleans()):
            attrs["learnable_bias"] = True
        G.add_node(f"r{i}", **attrs)
    for i in range(n_out):
        G.add_node(f"out{i}", kind="output", size=draw(st.integers(1, 3)))
    ins = [n for n in G if n.startswith("in")]
    recs = [n for n in G if n.startswith("r")]
    outs = [n for n in G if n.startswith("out")]
    pairs = [(a, b) for a in ins + recs for b in recs] + [(a, b) for a in recs for b in outs]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=10)) if pairs else []
    for src, dst in chosen:
        G.add_edge(src, dst, **draw(edge_attrs(G, src, dst)))
    return G


@st.composite
def edge_attrs(draw, G, src, dst):
    attrs = {}
    ns, nd = G.nodes[src]["size"], G.nodes[dst]["size"]
    rules = [r for r in RULES if r != "one_to_one" or ns == nd]
    attrs["rule"] = draw(st.sampled_from(rules))
    if draw(st.booleans()):
        attrs["sparsity"] = draw(st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0]))
    elif draw(st.booleans()):
        attrs["density"] = draw(st.floats(0, 1))
    st_types, dt_types = _types(G, src), _types(G, dst)
    if st_types and draw(st.booleans()):
        options = [t for t in st_types]
        if dt_types:
            options += [a + b for a in st_types for b in dt_types]
        entries = draw(st.lists(st.sampled_from(options), unique=True, min_size=1))
        # a one-letter entry already includes the two-letter ones from the same source type
        entries = [e for e in entries if not (len(e) == 2 and e[0] in entries)]
        attrs["ei"] = entries
    if src == dst and attrs["rule"] != "one_to_one":
        attrs["autapses"] = draw(st.booleans())
    attrs["trainable"] = draw(st.booleans())
    attrs["zero"] = draw(st.booleans()) and draw(st.booleans())
    attrs["gain"] = draw(st.sampled_from([0.5, 1.0, 2.0]))
    return attrs
