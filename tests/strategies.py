"""Hypothesis strategies for random circuit graphs, valid and odd (shared by the property tests)."""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from fractions import Fraction

import networkx as nx
import numpy as np
import torch
from hypothesis import strategies as st

from mrnngraph import schema
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


# --------------------------------------------------------------------------- odd input
# Values of every type a user or a file reader may hand over, for the properties
# "validate never raises" and "check/compile raise only GraphError".


class Hostile:
    """An object whose every protocol method raises: nothing may leak out of validation."""

    def _fail(self, *args, **kwargs):
        raise RuntimeError("hostile object")

    __eq__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _fail
    __str__ = __float__ = __int__ = __index__ = __len__ = __iter__ = __bool__ = _fail
    __getitem__ = __format__ = _fail

    def __repr__(self):  # hypothesis prints failing examples: the rest is hostile enough
        return "Hostile()"

    @property
    def ndim(self):
        raise RuntimeError("hostile object")


HUGE_INTS = (10**400, -(10**400), 2**63, 2**64, 2**70, 10**12, 10**9)
SPECIAL_FLOATS = (
    math.inf,
    -math.inf,
    math.nan,
    1e300,
    -1e300,
    1e39,
    -1e39,
    1e-300,
    5e-324,
    -0.0,
    3.4e38,
    3.5e38,
    1e-50,
)

# Wrappers giving a number (or bool, or string) another type; some change the value
# (float16 rounds), some fail (int8 of 1000) and are then skipped.
NUMBER_WRAPPERS = (
    ("identity", lambda x: x),
    ("np.float16", np.float16),
    ("np.float32", np.float32),
    ("np.float64", np.float64),
    ("np.longdouble", np.longdouble),
    ("np.int8", np.int8),
    ("np.int32", np.int32),
    ("np.int64", np.int64),
    ("np.uint8", np.uint8),
    ("np.uint64", np.uint64),
    ("Fraction", Fraction),
    ("Decimal", Decimal),
    ("np.array", np.array),
    ("torch.tensor", torch.tensor),
    ("torch.tensor(float64)", lambda x: torch.tensor(x, dtype=torch.float64)),
    ("complex", complex),
    ("np.complex128", np.complex128),
    ("str", str),
    ("[x]", lambda x: [x]),
    ("np.array([x])", lambda x: np.array([x])),
)
BOOLS = (True, False, np.True_, np.False_, np.array(True), torch.tensor(False))


def _wrap(wrapper, x):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return wrapper(x)
    except Exception:
        return x


@st.composite
def odd_numbers(draw, x=None):
    """A number (often odd: huge, NaN, tiny) in a type drawn from NUMBER_WRAPPERS."""
    if x is None:
        x = draw(
            st.one_of(
                st.integers(-3, 12),
                st.floats(),
                st.sampled_from(HUGE_INTS),
                st.sampled_from(SPECIAL_FLOATS),
                st.fractions(max_denominator=7),
                st.decimals(places=3),
            )
        )
    _, wrapper = draw(st.sampled_from(NUMBER_WRAPPERS))
    return _wrap(wrapper, x)


ODD_OBJECTS = (
    None,
    "",
    "x",
    "exc",
    "E",
    "pos",
    "inh",
    "-",
    np.str_("exc"),
    np.str_("relu"),
    b"exc",
    [],
    [1.0, 2.0],
    (0.5,),
    ["EE"],
    ["E", "II"],
    np.array(["EE", "EI"]),
    [["EE"]],
    {"EE": 0.1},
    {1, 2},
    range(3),
    np.zeros(3),
    np.zeros((2, 2)),
    torch.zeros(3),
    torch.zeros(()),
    np.float64("nan"),
    object(),
    Decimal("sNaN"),
    Decimal("NaN"),
    Decimal("1e400"),
    Fraction(10**400, 3),
    np.datetime64("2020-01-01"),
    1 + 0j,
)


def odd_values(attr=None):
    """Values for ``attr`` (a schema.Attr): half of the time one of its valid examples in
    another type (numpy, 0-d array or tensor, Fraction, Decimal), else its invalid
    examples, odd numbers, booleans of every type, and objects of every other kind."""
    # Hostile() is built, not sampled: sampled_from hashes its elements.
    odd = [odd_numbers(), st.sampled_from(BOOLS), st.sampled_from(ODD_OBJECTS), st.builds(Hostile)]
    if attr is None:
        return st.one_of(odd)
    c = attr.constraint
    invalid = list(c.invalid_examples())
    valid = list(getattr(c, "valid_examples", list)())
    if invalid:
        odd.append(
            st.sampled_from(invalid).flatmap(
                lambda v: odd_numbers(v) if isinstance(v, (int, float)) else st.just(v)
            )
        )
    if not valid:
        return st.one_of(odd)
    twins = st.sampled_from(valid).flatmap(lambda v: st.sampled_from([v, *exact_twins(v)]))
    return st.one_of(twins, twins, twins, twins, twins, *odd)


def _is(value, text):
    return type(value) is str and value == text  # odd values may not compare safely


_UNKNOWN_KEYS = ("sizee", "sgn", "tau_ms", 3, ("a", "b"), "")


@st.composite
def odd_graphs(draw):
    """A small valid graph with a few attributes (from the whole schema table, aliases
    and unknown names included) set to odd values, sometimes odd node names or sizes."""
    G = draw(valid_graphs(max_regions=3, max_size=6))
    for _ in range(draw(st.integers(1, 3))):
        scope = draw(st.sampled_from(["node", "node", "edge", "graph"]))
        if scope == "edge" and G.number_of_edges() == 0:
            scope = "node"
        names = [n for a in schema.attributes(scope).values() for n in (a.name, *a.aliases)]
        key = draw(st.one_of(st.sampled_from(names), st.sampled_from(_UNKNOWN_KEYS)))
        attr = schema.attribute(scope, key) if key in names else None
        value = draw(odd_values(attr))
        if scope == "node":
            target = G.nodes[draw(st.sampled_from(sorted(G.nodes, key=str)))]
        elif scope == "edge":
            target = G.edges[draw(st.sampled_from(sorted(G.edges, key=str)))]
        else:
            target = G.graph
        target[key] = value
    extra = draw(st.sampled_from(["none", "none", "self-one-to-one", "odd-name", "huge"]))
    regions = [n for n, d in G.nodes(data=True) if _is(d.get("kind", "recurrent"), "recurrent")]
    if extra == "self-one-to-one" and regions:
        G.add_edge(regions[0], regions[0], rule="one_to_one", autapses=draw(st.sampled_from(BOOLS)))
    elif extra == "odd-name":
        name = draw(st.sampled_from([np.str_("odd"), 3, "", ("a", "b"), "\x00", "é"]))
        G.add_node(name, size=draw(odd_numbers(2)))
        if regions:
            G.add_edge(regions[0], name)
    elif extra == "huge" and regions:
        G.nodes[regions[0]]["size"] = draw(odd_numbers(draw(st.sampled_from(HUGE_INTS))))
    return G


# Wrappers that keep a value exactly (the same number, bool or text in another type).
def exact_twins(value):
    """Other types holding exactly ``value``: checking them must give what ``value`` gives."""
    if isinstance(value, bool):
        return [np.bool_(value), np.array(value), torch.tensor(value)]
    if isinstance(value, int):
        out = [Fraction(value), Decimal(value), np.array(value), torch.tensor(value)]
        return out + ([np.int64(value), np.float64(value)] if abs(value) < 2**53 else [])
    if isinstance(value, float):
        out = [np.float64(value), np.array(value), torch.tensor(value, dtype=torch.float64)]
        return out + ([Fraction(value), Decimal(value)] if math.isfinite(value) else [])
    if isinstance(value, str):
        return [np.str_(value), np.array(value)]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [tuple(value), [np.str_(v) for v in value], np.array(value)]
    if isinstance(value, list) and all(isinstance(v, float) for v in value):
        return [
            tuple(value),
            np.array(value, dtype=np.float64),
            torch.tensor(value, dtype=torch.float64),
        ]
    return []
