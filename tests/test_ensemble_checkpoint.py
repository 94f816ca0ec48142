"""save_model/load_model with an Ensemble: one verified payload per member."""

from __future__ import annotations

import pytest
import torch

import mrnngraph as mg
import mrnngraph.checkpoint as ckpt
from mrnngraph._ensemble_checkpoint import ensemble_checksum
from mrnngraph.presets import two_area_ei
from mrnngraph.tasks import PerceptualDecisionMaking


@pytest.fixture(scope="module")
def trained():
    G = two_area_ei(size=8)
    ens = mg.Ensemble([mg.compile(G, seed=s) for s in range(3)], dt=20.0, tau=100.0)
    mg.train(ens, PerceptualDecisionMaking(), steps=2, batch_size=4, seed=0, progress=False)
    return G, ens


def test_round_trip(tmp_path, trained):
    G, ens = trained
    path = mg.save_model(ens, tmp_path / "ens.pt", graph=G, metadata={"seeds": [0, 1, 2]})
    ck = ckpt.load_checkpoint(path)
    back = ck.model
    assert isinstance(back, mg.Ensemble) and len(back) == 3
    assert ck.metadata == {"seeds": [0, 1, 2]}
    assert isinstance(ck.graph, list) and len(ck.graph) == 3
    a, b = ens.state_dict(), back.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 6, ens.input_size)
    assert torch.equal(back(x).outputs, ens(x).outputs)
    assert back.options() == ens.options()
    # load_model gives the ensemble too; members are what ens[k] gives
    m1 = mg.load_model(path)[1]
    assert torch.equal(m1.weight_hh, ens[1].weight_hh)


def test_one_graph_per_member_and_a_wrong_one(tmp_path, trained):
    G, ens = trained
    mg.save_model(ens, tmp_path / "a.pt", graph=[G, G, G])
    with pytest.raises(TypeError, match="one per ensemble member"):
        mg.save_model(ens, tmp_path / "b.pt", graph=[G, G])
    other = two_area_ei(size=9)
    with pytest.raises(ValueError, match="member 0: compiling the given graph"):
        mg.save_model(ens, tmp_path / "c.pt", graph=other)


def test_an_edited_ensemble_buffer_is_refused(tmp_path):
    G = two_area_ei(size=8)
    ens = mg.Ensemble([mg.compile(G, seed=s) for s in range(2)])
    mask = ens.parametrizations.weight_hh[0].mask
    with torch.no_grad():
        mask[1].fill_(True)
    with pytest.raises(ValueError, match="buffer 'parametrizations.weight_hh.0.mask'"):
        mg.save_model(ens, tmp_path / "e.pt")


def test_a_tampered_member_is_refused_naming_it(tmp_path, trained):
    _, ens = trained
    path = mg.save_model(ens, tmp_path / "ens.pt")
    payload = torch.load(path, weights_only=True)
    member = payload["members"][1]
    key = next(k for k in member["state_dict"] if k.endswith("weight_hh.0.mask"))
    member["state_dict"][key] = torch.ones_like(member["state_dict"][key])
    member["checksum"] = ckpt.checksum(member)
    payload["checksum"] = ensemble_checksum(payload)
    torch.save(payload, path)
    with pytest.raises(ValueError, match=r"\(member 1\).*differs from what the circuit gives"):
        mg.load_model(path)
    payload["metadata"] = '{"x": 1}'  # changed after writing: the checksum no longer fits
    torch.save(payload, path)
    with pytest.raises(ValueError, match="checksum"):
        mg.load_model(path)
    payload["members"] = []
    torch.save(payload, path)
    with pytest.raises(ValueError, match="'members' must be a non-empty list"):
        mg.load_model(path)
