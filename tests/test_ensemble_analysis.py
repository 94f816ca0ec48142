"""Analyses of an Ensemble: currents and report per member; perturb (more in
test_ensemble_perturb.py)."""

from __future__ import annotations

import pytest
import torch

import mrnngraph as mg
from mrnngraph.analysis.currents import currents, total_current
from mrnngraph.presets import two_area_ei


@pytest.fixture(scope="module")
def ens():
    G = two_area_ei(size=6)
    return mg.Ensemble(
        [mg.compile(G, seed=s) for s in range(3)], dt=20.0, tau=100.0, dtype=torch.float64
    )


@pytest.mark.parametrize("per_member_inputs", [False, True])
def test_currents_have_a_member_dimension(ens, per_member_inputs):
    g = torch.Generator().manual_seed(0)
    shape = (3, 2, 5, ens.input_size) if per_member_inputs else (2, 5, ens.input_size)
    u = torch.randn(shape, generator=g, dtype=torch.float64)
    out = ens(u)
    c = currents(ens, out.rates, u)
    for k in range(3):
        member = ens[k]
        alone = currents(member, out.rates[k], u[k] if per_member_inputs else u)
        assert c.keys() == alone.keys()
        for key in c:
            assert c[key].shape == (3, *alone[key].shape)
            torch.testing.assert_close(c[key][k], alone[key], rtol=0, atol=1e-12)
    # the currents add up to the drive of every member
    total = total_current(ens, c)
    alpha = ens.alpha[:, None, None, :]
    x_prev = torch.cat([ens.x0[:, None, None, :].expand(3, 2, 1, -1), out.states[:, :, :-1]], 2)
    torch.testing.assert_close(out.states - (1 - alpha) * x_prev, alpha * total)


def test_currents_refuse_rates_without_the_member_dimension(ens):
    u = torch.randn(2, 5, ens.input_size, dtype=torch.float64)
    with pytest.raises(ValueError, match="rates of an ensemble of 3 members"):
        currents(ens, ens(u).rates[0], u)


def test_report_gives_one_report_per_member(ens):
    reps = mg.report(ens)
    assert isinstance(reps, list) and len(reps) == 3
    for k, rep in enumerate(reps):
        assert rep.summary == mg.report(ens[k]).summary


def test_perturb_takes_an_ensemble(ens):
    u = torch.randn(2, 5, ens.input_size, dtype=torch.float64)
    with mg.perturb(ens, silence="a1") as same:
        rates = same(u).rates
    assert same is ens and ens.perturbation is None
    assert rates.shape[:2] == (3, 2) and not rates[..., ens.layout.slice("a1")].any()
