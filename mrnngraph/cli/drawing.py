"""``mrnngraph draw``: the area diagram (and the connectivity matrix) of a circuit file."""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from ._args import integer, output_file, real

__all__ = ["register", "draw_figure", "FIGURE_FORMATS"]

#: Output formats, by file extension.
FIGURE_FORMATS = ("png", "svg", "pdf")
#: Highest ``--dpi`` (print quality is 300-600).
MAX_DPI = 2400.0
#: Most pixels a figure may have at ``--dpi`` (a 1 GiB RGBA canvas): past this the
#: renderer's allocation fails (``std::bad_alloc``) or exhausts the machine.
MAX_PIXELS = 2**28


def register(subparsers: Any) -> None:
    """Add the ``draw`` sub-command."""
    from ..io.files import FORMATS

    p = subparsers.add_parser(
        "draw",
        help="draw a circuit's area diagram (and its connectivity matrix)",
        description="Draw the area diagram of a circuit file (any format mrnngraph reads). "
        "The circuit need not be valid: the diagram shows a broken circuit as declared and "
        "marks what is invalid. With --matrix the circuit is compiled (it must then be valid) "
        "and its connectivity is drawn beside the diagram. The format comes from the "
        "output's extension: " + ", ".join(f".{f}" for f in FIGURE_FORMATS) + ".",
    )
    p.add_argument("circuit", metavar="CIRCUIT", help="the circuit file to draw")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        type=output_file,
        help="the figure to write (replaced atomically)",
    )
    p.add_argument(
        "--matrix",
        action="store_true",
        help="also draw the compiled connectivity (recurrent, input and output "
        "blocks) beside the diagram",
    )
    p.add_argument(
        "--which",
        choices=("weight", "mask", "sign"),
        default="weight",
        help="what the matrix shows (default: weight)",
    )
    p.add_argument(
        "--seed",
        type=integer(low=0, high=2**64 - 1),
        default=0,
        help="seed the masks and weights of --matrix are drawn with (default: 0)",
    )
    p.add_argument(
        "--layout",
        choices=("auto", "layered", "arc"),
        default="auto",
        help="diagram layout (default: auto, layered unless the circuit is large)",
    )
    p.add_argument(
        "--format",
        dest="file_format",
        default=None,
        choices=FORMATS,
        help="format of CIRCUIT (default: from its extension)",
    )
    p.add_argument(
        "--dpi",
        type=real(low=0, high=MAX_DPI),
        default=150.0,
        help="resolution of a .png and of the matrix images in a .svg or .pdf, "
        f"in (0, {MAX_DPI:g}] (default: 150)",
    )
    p.set_defaults(handler=_draw)


def _load(path: str, file_format: str | None) -> Any:
    # Imported here so that the CLI starts (and --help works) without loading the readers.
    from ..io import load

    return load(path, format=file_format, check=False)


def draw_figure(
    G: Any, *, matrix: bool = False, which: str = "weight", seed: int = 0, layout: str = "auto"
) -> Any:
    """The figure ``mrnngraph draw`` writes: the diagram, and with ``matrix`` the
    compiled connectivity to its right.

    Raises
    ------
    GraphError
        With ``matrix``, if the circuit does not compile.
    """
    import matplotlib.pyplot as plt

    from ..drawing import diagram_frame, draw, plot_connectivity

    dw, dh, rect = diagram_frame(G, layout=layout)
    if not matrix:
        fig = plt.figure(figsize=(dw, dh))
        draw(G, ax=fig.add_axes(rect), layout=layout)
        return fig
    from ..compilation import compile as compile_graph

    with warnings.catch_warnings():
        # Reachability notes are for `mrnngraph validate`; a picture needs none.
        warnings.simplefilter("ignore")
        circuit = compile_graph(G, seed=seed)
    names = max((len(n) for n in circuit.layout.names), default=4)
    margin = 0.45 + names * 8 * 0.6 / 72
    side = 5.2
    mw, mh = margin + side + 0.9, margin + side + 0.85
    W, H = dw + mw, max(dh, mh)
    fig = plt.figure(figsize=(W, H))
    # The diagram's rectangle, scaled from its own (dw x dh) figure into the left part.
    x, y, w, h = rect
    y0 = (H - dh) / 2
    draw(G, ax=fig.add_axes((x * dw / W, (y0 + y * dh) / H, w * dw / W, h * dh / H)), layout=layout)
    ax2 = fig.add_axes(((dw + margin) / W, (H - mh) / 2 / H + margin / H, side / W, side / H))
    plot_connectivity(circuit, which, ax=ax2, blocks=("hh", "ih", "ho"))
    return fig


def _draw(args: argparse.Namespace) -> int:
    out = Path(args.output)
    fmt = out.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        print(
            f"error: cannot tell the figure format of {str(out)!r}: use one of "
            + ", ".join(f".{f}" for f in FIGURE_FORMATS),
            file=sys.stderr,
        )
        return 2
    G = _load(args.circuit, args.file_format)
    import matplotlib

    matplotlib.use("Agg")  # a command line tool never opens windows
    import matplotlib.pyplot as plt

    fig = draw_figure(G, matrix=args.matrix, which=args.which, seed=args.seed, layout=args.layout)
    w, h = fig.get_size_inches() * args.dpi
    if w * h > MAX_PIXELS:
        plt.close(fig)
        fits = math.floor(args.dpi * math.sqrt(MAX_PIXELS / (w * h)))
        print(
            f"error: argument --dpi: {args.dpi:g} makes a {w:.0f} x {h:.0f} pixel figure, "
            f"over the limit of {MAX_PIXELS} pixels; use --dpi {fits} or less",
            file=sys.stderr,
        )
        return 2
    from .._files import atomic_write

    try:
        atomic_write(out, lambda fh: fig.savefig(fh, format=fmt, dpi=args.dpi), binary=True)
    finally:
        plt.close(fig)
    print(f"wrote {out}")
    return 0
