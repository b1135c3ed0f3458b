"""Regenerate the README's sharing diagram, docs/sharing-diagram.png:

    .venv/bin/python docs/make_sharing_diagram.py

The model is lesson 01's siamese network: one encoder called on two inputs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras
from keras import layers

import helpers

OUTPUT = Path(__file__).resolve().parent / "sharing-diagram.png"


def readme_diagram() -> helpers.SharingDiagram:
    """The diagram the README shows."""
    keras.backend.clear_session()
    left, right = keras.Input((64,), name="left"), keras.Input((64,), name="right")
    encoder = layers.Dense(16, activation="relu", name="encoder")  # created once ...
    difference = layers.Subtract(name="difference")(
        [encoder(left), encoder(right)]
    )  # ... called twice
    same = layers.Dense(1, activation="sigmoid", name="same_digit")(difference)
    siamese = keras.Model([left, right], same, name="siamese")
    return helpers.sharing_diagram(siamese)


def main(path: Path = OUTPUT) -> Path:
    return readme_diagram().save(path, dpi=110)


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUTPUT))
