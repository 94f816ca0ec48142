"""The connectivity report of the default circuit, before and after brief training.

Prints, per projection, the requested and realised density, degree statistics,
mean weight and trainable parameters; per target region the E/I balance of its
recurrent input; the spectral radius of the effective recurrent matrix; and the
frozen and zero pathways (mrnngraph.report). The same table comes from
``mrnngraph info --report FILE`` on a circuit file.

Run: python examples/analyse_report.py [--markdown]
"""

import sys

from analyse_setup import trained_model

from mrnngraph.reporting import format_report, report

model = trained_model()
initial = report(model.circuit)
trained = report(model)
if "--markdown" in sys.argv:
    print(trained.to_markdown())
else:
    print(format_report(trained))
print(
    f"spectral radius of W_hh: {initial.summary['spectral_radius']:.3f} at initialisation, "
    f"{trained.summary['spectral_radius']:.3f} after training"
)
