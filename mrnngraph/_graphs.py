"""CUDA graphs for the step loops of the fused scan: each loop is captured once per shape
and replayed (``MRNNGRAPH_CUDA_GRAPHS=0`` turns that off).

Split out of :mod:`mrnngraph._scan`, which calls :func:`run_graphed` with the loop body.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["graphs_wanted", "run_graphed"]

_GRAPH_CACHE_SIZE = 8
_GRAPHS: OrderedDict[tuple, Any] = OrderedDict()
_GRAPH_FAILED: set[tuple] = set()


def graphs_wanted(t: torch.Tensor) -> bool:
    return (
        t.is_cuda
        and torch.cuda.is_available()
        and os.environ.get("MRNNGRAPH_CUDA_GRAPHS", "1") != "0"
        and not torch.cuda.is_current_stream_capturing()
    )


class _Captured:
    """One step loop captured as a CUDA graph, with its static inputs and outputs.

    ``run(inputs)`` copies the inputs into the static buffers and replays; the
    caller copies out what it keeps, since the next replay overwrites the outputs.
    """

    def __init__(
        self, body: Callable[..., None], inputs: dict[str, Any], outputs: dict[str, torch.Tensor]
    ):
        self.static_in = {
            k: (
                tuple(x.clone() for x in v)
                if isinstance(v, tuple)
                else v
                if not isinstance(v, torch.Tensor)
                else v.clone()
            )
            for k, v in inputs.items()
        }
        self.static_out = {k: torch.empty_like(v) for k, v in outputs.items()}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            # Warm-up outside the capture, as torch.cuda.graphs requires.
            body(**self.static_in, **self.static_out)
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            body(**self.static_in, **self.static_out)

    def run(self, inputs: dict[str, Any]) -> dict[str, torch.Tensor]:
        for k, v in inputs.items():
            if isinstance(v, tuple):
                for dst, src in zip(self.static_in[k], v, strict=True):
                    dst.copy_(src)
            elif isinstance(v, torch.Tensor):
                self.static_in[k].copy_(v)
        self.graph.replay()
        return self.static_out


def _graph_key(kind: str, op: Any, activation: str, inputs: dict[str, Any]) -> tuple:
    parts = []
    for k in sorted(inputs):
        v = inputs[k]
        if isinstance(v, tuple):
            parts.append((k, tuple((tuple(x.shape), x.dtype, x.device) for x in v)))
        elif isinstance(v, torch.Tensor):
            parts.append((k, tuple(v.shape), v.dtype, v.device))
        else:  # None or a float baked into the graph
            parts.append((k, v))
    return (kind, op.key(), activation, tuple(parts))


def run_graphed(
    kind: str,
    op: Any,
    activation: str,
    body: Callable[..., None],
    inputs: dict[str, Any],
    outputs: dict[str, torch.Tensor],
) -> bool:
    """Run ``body`` through a cached CUDA graph; False (nothing run) if it cannot be."""
    key = _graph_key(kind, op, activation, inputs)
    if key in _GRAPH_FAILED:
        return False
    cap = _GRAPHS.get(key)
    if cap is None:
        try:
            cap = _Captured(body, inputs, outputs)
        except RuntimeError as err:
            _GRAPH_FAILED.add(key)
            warnings.warn(
                f"mrnngraph: CUDA graph capture of the {kind} scan failed ({err}); "
                "running the loop eagerly for this shape",
                RuntimeWarning,
                stacklevel=3,
            )
            return False
        _GRAPHS[key] = cap
        while len(_GRAPHS) > _GRAPH_CACHE_SIZE:
            _GRAPHS.popitem(last=False)
    _GRAPHS.move_to_end(key)
    got = cap.run(inputs)
    for k, v in outputs.items():
        v.copy_(got[k])
    return True
