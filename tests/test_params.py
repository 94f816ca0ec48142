"""The one argument checker (mrnngraph._params): TypeError for the wrong kind, ValueError
for the wrong value, both naming the argument and what was given."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mrnngraph import _params as P
from mrnngraph.schema import Boolean, Options


@pytest.mark.parametrize(
    ("value", "constraint", "error", "text"),
    [
        (2.5, P.STEPS, TypeError, "steps must be an integer >= 1; got 2.5"),
        (2.0, P.STEPS, TypeError, "steps must be an integer >= 1; got 2.0"),
        (True, P.STEPS, TypeError, "got True"),
        ("3", P.STEPS, TypeError, "got '3'"),
        (0, P.STEPS, ValueError, "steps must be an integer >= 1; got 0"),
        (math.nan, P.POSITIVE, ValueError, "must be a float > 0; got nan"),
        (math.inf, P.POSITIVE, ValueError, "got inf"),
        (-0.5, P.NON_NEGATIVE, ValueError, "must be a float >= 0"),
        (1.5, P.PROBABILITY, ValueError, "must be a float in [0, 1]"),
        ([1.0], P.FINITE, TypeError, "got a list"),
        ("yes", Boolean(), TypeError, "must be a bool"),
        ("fast", Options(("fused", "autograd")), ValueError, "one of 'fused', 'autograd'"),
        (3, Options(("fused", "autograd")), TypeError, "one of"),
        (3, P.InstanceOf((torch.Generator,), "a torch.Generator"), TypeError, "got 3"),
        ("x", P.Optional(P.STEPS), TypeError, "an integer >= 1 or None"),
    ],
)
def test_wrong_kind_is_a_type_error_and_wrong_value_a_value_error(value, constraint, error, text):
    with pytest.raises(error) as info:
        P.check("steps", value, constraint)
    assert type(info.value) is error  # never both: Invalid (a ValueError) must not leak
    assert text in str(info.value)


def test_accepted_values_come_back_canonical():
    assert P.check("n", np.int64(4), P.STEPS) == 4
    assert type(P.check("n", np.int64(4), P.STEPS)) is int
    assert P.check("lr", 1, P.POSITIVE) == 1.0
    assert type(P.check("lr", torch.tensor(0.5), P.POSITIVE)) is float
    assert P.check("x", None, P.Optional(P.STEPS)) is None
    g = torch.Generator()
    assert P.check("g", g, P.InstanceOf((torch.Generator,))) is g
    assert P.check("flag", np.bool_(True), Boolean()) is True


@given(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(), st.lists(st.integers())
    )
)
def test_check_raises_only_type_or_value_errors(value):
    for constraint in (
        P.STEPS,
        P.COUNT,
        P.POSITIVE,
        P.NON_NEGATIVE,
        P.PROBABILITY,
        P.FINITE,
        Boolean(),
    ):
        try:
            out = P.check("a", value, constraint)
        except (TypeError, ValueError) as err:
            assert str(err).startswith("a must be ")
        else:
            assert constraint.check(out) is None


def test_validate_params_checks_given_arguments_and_trusts_defaults():
    @P.validate_params({"steps": P.STEPS, "lr": P.POSITIVE})
    def run(steps=None, *, lr=0.1):
        return steps, lr

    assert run() == (None, 0.1)  # the default None is not checked
    assert run(3, lr=1) == (3, 1.0)
    with pytest.raises(ValueError, match="lr must be a float > 0; got -1"):
        run(3, lr=-1)
    with pytest.raises(TypeError, match="steps must be an integer"):
        run("3")
    with pytest.raises(TypeError, match="has no arguments"):
        P.validate_params({"nope": P.STEPS})(run.__wrapped__)
