"""The helpers phase of ``course bench``: how fast the helpers read four big models.

The models (built here, ``weights=None``: nothing is downloaded): a chain of 600 Dense
layers, one Dense called 500 times, MobileNetV3Small and EfficientNetB0. For each, in a
fresh process per Keras backend (the backend is chosen before Keras is imported):

- **first report**: ``sharing_report`` on a model never inspected (the analysis included);
- **later report**: the slowest of ``sharing_report``, ``param_table``, ``call_counts`` and
  ``variable_uses`` once the analysis is cached;
- **diagram built**: ``sharing_diagram`` (its nodes and edges; no text measured);
- **SVG rendered**: ``to_svg()`` of that diagram (a summary above 60 calls).

Targets (issue 25, on TensorFlow, 2 cores): first report 1 s, diagram 0.5 s, SVG 2 s,
later reports 0.2 s. JAX is measured and shown against the same targets. Not a test: a
busy machine gives slower figures.

Run alone::

    $ .venv/bin/python -m course.bench.helpers_speed              # TensorFlow and JAX
    $ .venv/bin/python -m course.bench.helpers_speed --backend jax
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["HELPER_TARGETS", "MODELS", "format_helpers", "measure_backend", "measure_helpers"]

#: seconds, per figure (issue 25).
HELPER_TARGETS = {"first": 1.0, "later": 0.2, "diagram": 0.5, "svg": 2.0}

MODELS = ("chain_600", "called_500", "mobilenet_v3_small", "efficientnet_b0")


def _builders() -> dict[str, Callable]:
    import keras
    from keras import layers

    def chain_600():
        x = keras.Input((8,))
        h = x
        for i in range(600):
            h = layers.Dense(8, name=f"d{i}")(h)
        return keras.Model(x, h, name="chain_600")

    def called_500():
        x = keras.Input((8,))
        dense = layers.Dense(8, name="d")
        h = x
        for _ in range(500):
            h = dense(h)
        return keras.Model(x, h, name="called_500")

    return {
        "chain_600": chain_600,
        "called_500": called_500,
        "mobilenet_v3_small": lambda: keras.applications.MobileNetV3Small(
            weights=None, input_shape=(224, 224, 3)
        ),
        "efficientnet_b0": lambda: keras.applications.EfficientNetB0(
            weights=None, input_shape=(224, 224, 3)
        ),
    }


def _seconds(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure_backend() -> dict[str, dict[str, float]]:
    """The four figures per model on this process's Keras backend."""
    import helpers

    figures = {}
    for name, build in _builders().items():
        model = build()
        first = _seconds(lambda m=model: helpers.sharing_report(m))
        later = max(
            _seconds(lambda f=f, m=model: f(m))
            for f in (
                helpers.sharing_report,
                helpers.param_table,
                helpers.call_counts,
                helpers.variable_uses,
            )
        )
        start = time.perf_counter()
        drawing = helpers.sharing_diagram(model)
        diagram = time.perf_counter() - start
        svg = _seconds(drawing.to_svg)
        figures[name] = {
            "first": first,
            "later": later,
            "diagram": diagram,
            "svg": svg,
            "calls": len(drawing.calls),
        }
    return figures


def measure_helpers(backends: Sequence[str] = ("tensorflow", "jax")) -> dict[str, Any]:
    """``{backend: {model: figures}}``, each backend measured in a fresh process
    (``{"error": ...}`` for a backend that failed)."""
    results: dict[str, Any] = {}
    for backend in backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(
            [sys.executable, "-m", "course.bench.helpers_speed", "--backend", backend, "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        try:
            results[backend] = json.loads(lines[-1])
        except (IndexError, json.JSONDecodeError):
            results[backend] = {"error": (done.stderr.strip().splitlines() or ["no output"])[-1]}
    return results


def format_helpers(results: Mapping[str, Any]) -> str:
    """A table: per backend and model, each figure with PASS/MISS against its target.

    >>> print(format_helpers({"jax": {"chain_600": {"first": 0.5, "later": 0.01,
    ...     "diagram": 0.1, "svg": 3.0, "calls": 600}}}))
    helpers phase (targets: first report 1 s, later 0.2 s, diagram 0.5 s, SVG 2 s)
    backend  model      calls  first report  later report  diagram built  SVG rendered
    jax      chain_600    600   0.50 s PASS   0.01 s PASS    0.10 s PASS   3.00 s MISS
    """
    header = ["backend", "model", "calls", "first report", "later report", "diagram built"]
    rows = [header + ["SVG rendered"]]
    for backend, models in results.items():
        if "error" in models:
            rows.append([backend, "error: " + str(models["error"]), "", "", "", "", ""])
            continue
        for name, f in models.items():
            cells = [
                f"{f[key]:.2f} s {'PASS' if f[key] <= HELPER_TARGETS[key] else 'MISS'}"
                for key in ("first", "later", "diagram", "svg")
            ]
            rows.append([backend, name, str(f["calls"]), *cells])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header) + 1)]
    lines = [
        "  ".join(
            c.rjust(w) if i >= 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    title = "helpers phase (targets: first report 1 s, later 0.2 s, diagram 0.5 s, SVG 2 s)"
    return "\n".join([title, *(line.rstrip() for line in lines)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", help="tensorflow, jax or torch")
    parser.add_argument("--json", action="store_true", help="one backend, figures as JSON")
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(measure_backend()))
        return 0
    print(format_helpers(measure_helpers(args.backend or ("tensorflow", "jax"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
