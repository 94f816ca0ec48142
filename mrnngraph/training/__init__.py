"""Train a circuit model on a task: Adam, masked task loss plus regularisers, clipping,
divergence detection, a progress bar, and data-parallel training over processes.

Dale's law, connectivity masks and frozen projections are parametrizations of
the model's weights (see :mod:`mrnngraph.model`), so every optimizer step keeps
them: nothing here re-imposes them.

Distributed training
--------------------
``train(..., distributed=True)`` runs data-parallel with
:class:`torch.nn.parallel.DistributedDataParallel`, one process per device:
``gloo`` on CPU, ``nccl`` on GPU. It joins the process group described by the
environment variables that ``torchrun`` sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``), or an already initialised one.
:func:`launch` starts such processes on this machine without ``torchrun``.

Ensembles
---------
``train`` and ``evaluate`` take an :class:`~mrnngraph.Ensemble`: every member trains on
the same batches as if alone (its own gradient, clipping, divergence handling and
health checks); the :class:`History` keeps per-member records (``member_loss``, ...).

Logs
----
``train(..., log_dir=...)`` writes TensorBoard scalars (the ``mrnngraph[tensorboard]``
extra); :meth:`History.to_csv` writes the per-step history as CSV.

The package's modules, one concern each: ``_loop`` (:func:`train` and the loop),
``_options`` (the run's checked options, :class:`TrainOptions`), ``_history``
(:class:`History` and the ways a run ends early), ``_regularisers`` (loss terms and
:class:`StopAt`), ``_health`` (silent-failure checks), ``_evaluation``
(:func:`evaluate`, :func:`predict`, :func:`constraint_violations`), ``_distributed``
(:func:`launch`, :func:`distributed_env`), ``_ensemble_loop`` (an ensemble's run) and
``_logging`` (TensorBoard).
"""

from __future__ import annotations

# A name imported "as" itself is an internal that other modules import from here
# (mrnngraph.fitting, mrnngraph.cli.training), kept at this path.
from ._distributed import distributed_env, launch
from ._evaluation import _forward as _forward
from ._evaluation import _model_device as _model_device
from ._evaluation import _outputs as _outputs
from ._evaluation import _seed_of as _seed_of
from ._evaluation import constraint_violations, evaluate, predict
from ._history import History, TrainingDiverged, TrainingInterrupted, TrainingWarning
from ._history import _json_safe as _json_safe
from ._loop import guarded_backward as guarded_backward
from ._loop import train
from ._options import TrainOptions as TrainOptions
from ._regularisers import LossTerm, RateL2, StopAt, WeightL1, WeightL2
from ._regularisers import _terms as _terms

__all__ = [
    "train",
    "evaluate",
    "predict",
    "constraint_violations",
    "History",
    "TrainingDiverged",
    "TrainingInterrupted",
    "TrainingWarning",
    "LossTerm",
    "RateL2",
    "WeightL1",
    "WeightL2",
    "StopAt",
    "launch",
    "distributed_env",
]
