"""Big sharing diagrams (issue 25, point 8): built without measuring any text, and drawn as
a readable summary above 60 calls, with every call still listed in ``.calls``/``.readers``."""

from __future__ import annotations

import keras
import pytest
from keras import layers

import helpers
from helpers import _diagram_draw


def chain(n: int) -> keras.Model:
    x = keras.Input((4,))
    h = x
    for i in range(n):
        h = layers.Dense(4, name=f"d{i}")(h)
    return keras.Model(x, h, name=f"chain_{n}")


def called(n: int) -> keras.Model:
    x = keras.Input((4,))
    dense = layers.Dense(4, name="d")
    h = x
    for _ in range(n):
        h = dense(h)
    return keras.Model(x, layers.Dense(2, name="head")(h), name=f"called_{n}")


def test_nodes_and_edges_measure_no_text(monkeypatch):
    def measured(*args, **kwargs):
        raise AssertionError("text measured")

    monkeypatch.setattr(_diagram_draw, "_width", measured)
    diagram = helpers.sharing_diagram(chain(80))
    assert len(diagram.nodes) == 80 + 160 and len(diagram.edges) == 160
    assert dict(diagram.readers)["d5/kernel"] == ["d5"]
    with pytest.raises(AssertionError, match="text measured"):
        diagram.to_svg()


def test_a_long_chain_is_drawn_as_one_run_and_can_be_expanded():
    model = chain(80)
    diagram = helpers.sharing_diagram(model)
    assert diagram.summary and len(diagram.calls) == 80  # the data: every call
    drawn = diagram.drawn
    assert [n.label for n in drawn.calls] == ["d0 … d79"]
    assert [n.label for n in drawn.variables] == ["160 own variables"]
    assert drawn.total_params == diagram.total_params == model.count_params()
    assert "d0 … d79" in diagram.to_svg()
    full = helpers.sharing_diagram(model, summary=False)
    assert full.drawn is full and len(full.layout.positions) == 240


def test_repeated_calls_of_one_layer_become_one_box_joined_to_its_variables():
    model = called(100)
    drawn = helpers.sharing_diagram(model).drawn
    assert [n.label for n in drawn.calls] == ["d[1] … d[100]", "head"]
    assert drawn.calls[0].detail == "100 calls · each reads 20 params"
    kinds = {n.label: n.kind for n in drawn.variables}
    assert kinds == {
        "d/kernel": "shared",
        "d/bias": "shared",
        "head/kernel": "own",
        "head/bias": "own",
    }
    assert {(drawn.node(e.variable).label, drawn.node(e.call).label) for e in drawn.edges} >= {
        ("d/kernel", "d[1] … d[100]"),
        ("head/kernel", "head"),
    }


def test_a_shared_layer_in_a_long_model_keeps_its_boxes():
    x = keras.Input((4,))
    shared = layers.Dense(4, name="shared")
    h = shared(x)
    for i in range(70):
        h = layers.Dense(4, name=f"d{i}")(h)
    model = keras.Model(x, shared(h))
    drawn = helpers.sharing_diagram(model).drawn
    labels = [n.label for n in drawn.calls]
    assert labels == ["shared[1]", "d0 … d69", "shared[2]"]
    assert dict(drawn.readers)["shared/kernel"] == ["shared[1]", "shared[2]"]


def test_a_small_diagram_is_drawn_whole():
    diagram = helpers.sharing_diagram(called(3))
    assert not diagram.summary and diagram.drawn is diagram
