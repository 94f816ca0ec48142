"""Lesion controls (mrnngraph.analysis.lesions) on a hand-built circuit whose answer
travels through one region only."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mrnngraph import MultiRegionRNN, perturb  # noqa: E402
from mrnngraph.analysis.lesions import (  # noqa: E402
    LesionEffect,
    _cut_synapses,
    _silence_units,
    lesion_effect,
)
from mrnngraph.analysis.population_plots import plot_lesion_effects  # noqa: E402
from mrnngraph.tasks import Batch, Task  # noqa: E402


class Sign(Task):
    """The input channel that is on is the answer (no noise)."""

    name = "sign"
    dt = 10.0
    input_size = 2
    output_size = 2
    T = 10

    def _generate(self, batch_size, g):
        label = torch.randint(0, 2, (batch_size,), generator=g)
        x = torch.zeros(batch_size, self.T, 2)
        x[torch.arange(batch_size), :, label] = 1.0
        y = label[:, None].expand(batch_size, self.T).clone()
        return Batch(x, y, torch.ones(batch_size, self.T), {"label": label})

    def correct(self, outputs, batch):
        return outputs[:, self.T // 2 :].mean(1).argmax(-1) == batch.trials["label"]


def circuit(sparse=False):
    """'a' (16 units, 8 per channel) carries the input to the readout; 'b' (48 units)
    receives nothing, has recurrent synapses of its own and a readout that carries
    nothing (its rates stay 0)."""
    G = nx.DiGraph(dt=10.0, tau=20.0, activation="relu")
    G.add_node("u", kind="input", size=2)
    G.add_node("a", size=16)
    G.add_node("b", size=48)
    G.add_node("y", kind="output", size=2)
    G.add_edge("u", "a")
    G.add_edge("b", "b", density=0.5)
    G.add_edge("a", "y")
    G.add_edge("b", "y")
    model = MultiRegionRNN.from_graph(G, seed=0, sparse=sparse)
    with torch.no_grad():
        w_ih = torch.zeros(64, 2)
        w_ih[:8, 0] = w_ih[8:16, 1] = 1.0
        model.parametrizations.weight_ih.original.copy_(w_ih)
        w_ho = model.parametrizations.weight_ho.original
        w_ho[:, :16] = 0.0
        w_ho[0, :8] = w_ho[1, 8:16] = 1.0
    return model


@pytest.fixture(scope="module")
def model():
    return circuit()


def test_lesion_of_the_carrying_region_is_worse_than_every_random_lesion(model):
    eff = lesion_effect(model, Sign(), "a", n_random=20, seed=0, batch_size=200)
    assert isinstance(eff, LesionEffect)
    assert eff.intact == 1.0
    assert eff.n_units == 16 and eff.n_synapses == {} and eff.silence == ["a"]
    assert eff.lesioned == pytest.approx(0.5, abs=0.1)  # always answers class 0
    assert eff.random.shape == (20,) and np.all(eff.random > eff.lesioned)
    assert eff.percentile == 0.0
    assert eff.p_value == pytest.approx(1 / 21)
    assert eff.name == "silence a"


def test_lesion_of_a_disconnected_region_does_not_matter(model):
    eff = lesion_effect(model, Sign(), "b", n_random=20, seed=0, batch_size=200)
    assert eff.n_units == 48
    assert eff.lesioned == eff.intact == 1.0
    # Random lesions of 48 units hit 'a' too and sometimes matter; 'b' never does.
    assert np.all(eff.random <= eff.lesioned)
    assert eff.p_value == 1.0 and eff.percentile >= 50.0


def test_pathway_cut_against_random_synapses_of_the_same_family(model):
    eff = lesion_effect(model, Sign(), ("a", "y"), n_random=20, seed=0, batch_size=200)
    assert eff.n_units == 0 and eff.n_synapses == {"ho": 32} and eff.cut == [("a", "y")]
    assert eff.lesioned == pytest.approx(0.5, abs=0.1)
    assert np.all(eff.random > eff.lesioned) and eff.p_value == pytest.approx(1 / 21)
    assert eff.name == "cut a → y"
    both = lesion_effect(
        model, Sign(), {"silence": "b", "cut": [("b", "b")]}, n_random=3, batch_size=50
    )
    assert both.n_units == 48 and both.n_synapses == {"hh": int(model.mask_hh.sum())}


def test_same_seed_same_result_other_seed_other_lesions(model):
    a = lesion_effect(model, Sign(), "b", n_random=8, seed=1, batch_size=100)
    b = lesion_effect(model, Sign(), "b", n_random=8, seed=1, batch_size=100)
    c = lesion_effect(model, Sign(), "b", n_random=8, seed=2, batch_size=100)
    np.testing.assert_array_equal(a.random, b.random)
    assert not np.array_equal(a.random, c.random)


@pytest.mark.parametrize("sparse", [False, True])
def test_random_synapses_are_existing_synapses_of_the_family_and_undone(sparse):
    m = circuit(sparse=sparse)
    before = {k: v.clone() for k, v in m.state_dict().items()}
    mask_hh = m.weight_hh.detach() != 0
    n_hh = m.parametrizations["weight_hh"][0].n_synapses()
    assert n_hh == int(m.circuit.blocks[("b", "b")].mask.sum())
    choice = np.random.default_rng(0).choice(n_hh, 100, replace=False)
    with torch.no_grad(), _cut_synapses(m, "hh", choice):
        w = m.weight_hh.detach()
        w_ih, w_ho = m.weight_ih.detach().clone(), m.weight_ho.detach().clone()
    gone = mask_hh & (w == 0)
    assert int(gone.sum()) == 100  # exactly 100 existing synapses cut
    assert not bool(((w != 0) & ~mask_hh).any())  # nothing created
    torch.testing.assert_close(w_ih, m.weight_ih.detach())
    torch.testing.assert_close(w_ho, m.weight_ho.detach())
    # Cutting every synapse of a block is perturb's cut.
    with torch.no_grad(), _cut_synapses(m, "hh", np.arange(n_hh)):
        ours = m(torch.rand(3, 5, 2, generator=torch.Generator().manual_seed(0))).states
    with torch.no_grad(), perturb(m, cut=[("b", "b")]):
        ref = m(torch.rand(3, 5, 2, generator=torch.Generator().manual_seed(0))).states
    torch.testing.assert_close(ours, ref)
    after = m.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    eff = lesion_effect(m, Sign(), ("b", "b"), n_random=2, batch_size=20)
    assert eff.n_synapses == {"hh": n_hh}
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_silencing_units_matches_perturb_and_nests(model):
    u = torch.rand(4, 6, 2, generator=torch.Generator().manual_seed(1))
    idx = model.layout.indices("a")
    with torch.no_grad():
        with _silence_units(model, idx):
            ours = model(u).outputs
        with perturb(model, silence="a"):
            ref = model(u).outputs
        torch.testing.assert_close(ours, ref)
        with perturb(model, clamp={"b": 0.5}), _silence_units(model, idx[:3]):
            rates = model(u).rates
    assert model.perturbation is None
    assert bool((rates[..., 16:] == 0.5).all()) and bool((rates[..., :3] == 0).all())
    assert bool((rates[..., 3:8].sum(-1) > 0).all())


def test_among_restricts_random_units(model):
    eff = lesion_effect(model, Sign(), "a", n_random=5, batch_size=50, among="a")
    np.testing.assert_array_equal(eff.random, eff.lesioned)  # the same 16 units every time
    assert eff.among == ["a"]
    ax = plot_lesion_effects(eff)
    assert "(16 units of a; p = 1)" in ax.get_yticklabels()[0].get_text()
    plt.close("all")
    with pytest.raises(ValueError, match="pool of random units"):
        lesion_effect(model, Sign(), "b", n_random=2, batch_size=10, among="a")


def test_metric_by_name_or_callable(model):
    eff = lesion_effect(model, Sign(), "a", n_random=2, batch_size=50, metric="loss")
    assert eff.metric == "loss" and eff.lesioned > eff.intact

    def fraction_class_1(outputs, batch):
        return float((outputs.mean(1).argmax(-1) == 1).float().mean())

    eff = lesion_effect(model, Sign(), "a", n_random=2, batch_size=50, metric=fraction_class_1)
    assert eff.metric == "fraction_class_1" and eff.lesioned == 0.0
    with pytest.raises(KeyError, match="not one of the task's metrics"):
        lesion_effect(model, Sign(), "a", n_random=2, batch_size=10, metric="auc")


def test_errors_name_what_is_wrong(model):
    with pytest.raises(KeyError, match="unknown region 'c'"):
        lesion_effect(model, Sign(), "c")
    with pytest.raises(KeyError, match=r"declares no edge \('a', 'b'\)"):
        lesion_effect(model, Sign(), ("a", "b"))
    with pytest.raises(ValueError, match="only 'silence' and 'cut'"):
        lesion_effect(model, Sign(), {"clamp": {"a": 0.0}})
    with pytest.raises(ValueError, match="not a recurrent region"):
        lesion_effect(model, Sign(), "u")
    with pytest.raises(ValueError, match="empty"):
        lesion_effect(model, Sign(), {"silence": []})
    with pytest.raises(TypeError, match="lesion must be"):
        lesion_effect(model, Sign(), 3)
    with pytest.raises(ValueError, match="n_random"):
        lesion_effect(model, Sign(), "a", n_random=0)
    assert model.perturbation is None


def test_plot_marks_each_named_lesion_among_its_random_ones(model):
    effs = [
        lesion_effect(model, Sign(), "a", n_random=6, batch_size=50),
        lesion_effect(model, Sign(), ("a", "y"), n_random=6, batch_size=50),
    ]
    ax = plot_lesion_effects(effs)
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks[0].startswith("silence a\n(16 units; p = 0.14)")
    assert ticks[1].startswith("cut a → y\n(32 readout synapses")
    named = [c for c in ax.collections if c.get_label() == "named lesion"]
    assert len(named) == 1
    xs = sorted(
        float(c.get_offsets()[0][0]) for c in ax.collections if c.get_offsets().shape[0] == 1
    )
    np.testing.assert_allclose(xs, sorted(e.lesioned for e in effs))
    random = [c for c in ax.collections if c.get_offsets().shape[0] == 6]
    assert len(random) == 2
    intact = [ln for ln in ax.lines if ln.get_label() == "intact"]
    assert intact and list(intact[0].get_xdata()) == [1.0, 1.0]
    assert ax.get_xlabel() == "accuracy"
    plt.close("all")


def test_seeded_results_are_the_same_in_a_fresh_process(model):
    """Seeds, not the process (threads, import order), decide the folds and lesions."""
    code = textwrap.dedent("""
        import json, sys
        import numpy as np
        sys.path.insert(0, TESTS)
        from test_lesions import Sign, circuit
        from mrnngraph.analysis.decoding import decode
        from mrnngraph.recording import Recording
        from mrnngraph.analysis.lesions import lesion_effect
        eff = lesion_effect(circuit(), Sign(), "b", n_random=5, seed=3, batch_size=60,
                            metric="loss")
        rng = np.random.default_rng(0)
        y = np.arange(40) % 2
        rec = Recording({"r": rng.normal(size=(40, 3, 4)) + y[:, None, None]}, dt=1.0)
        dec = decode(rec, y, seed=5)
        print(json.dumps({"random": eff.random.tolist(), "dec": dec.folds["r"].tolist()}))
    """).replace("TESTS", repr(str(Path(__file__).resolve().parent)))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    got = json.loads(out.stdout.strip().splitlines()[-1])
    from mrnngraph.analysis.decoding import decode
    from mrnngraph.recording import Recording

    eff = lesion_effect(circuit(), Sign(), "b", n_random=5, seed=3, batch_size=60, metric="loss")
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    rec = Recording({"r": rng.normal(size=(40, 3, 4)) + y[:, None, None]}, dt=1.0)
    assert len(set(eff.random.tolist())) >= 3  # the lesions differ, and so do losses
    np.testing.assert_allclose(got["random"], eff.random, rtol=1e-6)
    np.testing.assert_allclose(got["dec"], decode(rec, y, seed=5).folds["r"], rtol=0, atol=1e-12)
