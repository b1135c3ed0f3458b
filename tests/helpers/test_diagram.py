"""helpers.diagram: the sharing diagram draws exactly what variable_uses finds."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import keras
import matplotlib.image
import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter
from keras import layers
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from helpers import CheckFailed, assert_not_shared, assert_shared
from helpers._diagram_draw import STYLES
from helpers.calls import layer_calls
from helpers.diagram import DIAGRAM_HINT, KINDS, SharingDiagram, diagram_hint, sharing_diagram
from helpers.variables import VariableUse, variable_uses

# Every model of the helpers' fixtures (tests/helpers/conftest.py).
KNOWN_MODELS = [
    "siamese",
    "two_towers",
    "submodel_twice",
    "cloned_towers",
    "from_config_pair",
    "tied_autoencoder",
    "tracked_tied_autoencoder",
    "untied_autoencoder",
    "wrapper_model",
    "zoo",
    "sequential_twice",
    "deepcopy_pair",
    "set_weights_pair",
    "frozen_shared",
    "identity_clone",
    "tied_lm",
    "unused_weights",
]


def expected_kind(use: VariableUse) -> str:
    """The kind, worked out here from variable_uses alone."""
    if not use.calls:
        return "unused"
    if len(use.layers) > 1:
        return "tied"
    return "shared" if len(use.calls) > 1 else "own"


def kinds(diagram: SharingDiagram) -> dict[str, str]:
    return {node.label: node.kind for node in diagram.variables}


@pytest.fixture(params=KNOWN_MODELS)
def known(request) -> keras.Model:
    return request.getfixturevalue(request.param)


# --- what is drawn matches variable_uses ------------------------------------------------------


def test_calls_are_the_model_calls_in_data_flow_order(known):
    diagram = sharing_diagram(known)
    assert [node.label for node in diagram.calls] == [
        call.label for call in layer_calls(known, nested=True)
    ]
    assert [node.key for node in diagram.calls] == [f"call:{i}" for i in range(len(diagram.calls))]
    assert all(node.kind == "call" for node in diagram.calls)


def test_each_variable_is_drawn_once_and_joined_to_every_call_that_reads_it(known):
    diagram = sharing_diagram(known)
    uses = variable_uses(known)
    assert len(diagram.variables) == len(uses)
    # Order may differ (drawn to cross fewer lines); as multisets the pairs are equal.
    drawn = sorted((label, tuple(calls)) for label, calls in diagram.readers)
    assert drawn == sorted((use.path, tuple(use.labels)) for use in uses)
    assert len(diagram.edges) == sum(len(use.calls) for use in uses)
    assert len({(e.variable, e.call) for e in diagram.edges}) == len(diagram.edges)


def test_kinds_and_counts_follow_variable_uses(known):
    diagram = sharing_diagram(known)
    uses = variable_uses(known)
    by_path = {}
    for use in uses:
        by_path.setdefault(use.path, []).append(use)
    for node in diagram.variables:
        (path,) = node.paths
        candidates = by_path[path]
        assert any(node.kind == expected_kind(u) and node.params == u.size for u in candidates), (
            node
        )
    for edge in diagram.edges:
        assert edge.kind == diagram.node(edge.variable).kind
    assert diagram.total_params == sum(use.size for use in uses) == known.count_params()
    assert diagram.title == f"{known.name}: {known.count_params():,} parameters"


def test_calls_show_the_parameters_they_read(known):
    diagram = sharing_diagram(known)
    reads = {label: 0 for label in (n.label for n in diagram.calls)}
    for use in variable_uses(known):
        for label in use.labels:
            reads[label] += use.size
    assert {n.label: n.params for n in diagram.calls} == reads
    for node in diagram.calls:
        assert node.detail.endswith(
            f"reads {reads[node.label]:,} params"
            if reads[node.label] > 1
            else "reads 1 param"
            if reads[node.label]
            else "no variables"
        )


def test_the_networkx_graph_holds_the_same_nodes_and_edges(known):
    diagram = sharing_diagram(known)
    graph = diagram.graph
    assert set(graph.nodes) == {node.key for node in diagram.nodes}
    assert {frozenset(e) for e in graph.edges} == {
        frozenset((e.variable, e.call)) for e in diagram.edges
    }
    for node in diagram.nodes:
        assert graph.nodes[node.key]["label"] == node.label
        assert graph.nodes[node.key]["kind"] == node.kind


# --- the kinds, on the models whose sharing we know -----------------------------------------


def test_siamese_encoder_is_shared_by_its_two_calls(siamese):
    diagram = sharing_diagram(siamese)
    assert dict(diagram.readers) == {
        "encoder/kernel": ["encoder[1]", "encoder[2]"],
        "encoder/bias": ["encoder[1]", "encoder[2]"],
        "score/kernel": ["score"],
        "score/bias": ["score"],
    }
    assert kinds(diagram) == {
        "encoder/kernel": "shared",
        "encoder/bias": "shared",
        "score/kernel": "own",
        "score/bias": "own",
    }
    assert [(n.label, n.detail) for n in diagram.calls] == [
        ("encoder[1]", "Dense · reads 15 params"),
        ("encoder[2]", "Dense · reads 15 params"),
        ("difference", "Subtract · no variables"),
        ("score", "Dense · reads 4 params"),
    ]
    assert diagram.node("variable:0").detail == "(4, 3) · 12 params"
    assert diagram.counts == {"own": 2, "shared": 2, "tied": 0, "unused": 0}


@pytest.mark.parametrize(
    "model",
    [
        "two_towers",
        "cloned_towers",
        "from_config_pair",
        "deepcopy_pair",
        "set_weights_pair",
        "untied_autoencoder",
    ],
)
def test_separate_copies_have_only_own_variables(model, request):
    diagram = sharing_diagram(request.getfixturevalue(model))
    assert set(kinds(diagram).values()) == {"own"}
    assert all(len(calls) == 1 for _, calls in diagram.readers)


def test_deepcopy_twins_are_two_boxes_with_one_path(deepcopy_pair):
    readers = sharing_diagram(deepcopy_pair).readers
    assert [calls for label, calls in readers if label == "original/kernel"] == [
        ["original"],
        ["copy"],
    ]


@pytest.mark.parametrize("model", ["tied_autoencoder", "tracked_tied_autoencoder"])
def test_tied_autoencoder_kernel_is_tied_and_biases_are_own(model, request):
    diagram = sharing_diagram(request.getfixturevalue(model))
    assert dict(diagram.readers) == {
        "encoder/bias": ["encoder"],
        "encoder/kernel": ["encoder", "decoder"],
        "decoder/bias": ["decoder"],
    }
    assert kinds(diagram) == {
        "encoder/bias": "own",
        "encoder/kernel": "tied",
        "decoder/bias": "own",
    }
    # Drawn between the two calls that read it, so no line crosses another.
    assert [n.label for n in diagram.variables] == [
        "encoder/bias",
        "encoder/kernel",
        "decoder/bias",
    ]


def test_tied_embedding_is_one_layer_called_twice(tied_lm):
    diagram = sharing_diagram(tied_lm)
    assert dict(diagram.readers)["embed/embeddings"] == ["embed[1]", "embed[2]"]
    assert kinds(diagram)["embed/embeddings"] == "shared"


@pytest.mark.parametrize(
    "model, called", [("submodel_twice", "shared_tower"), ("sequential_twice", "block")]
)
def test_a_model_used_twice_as_a_layer_shares_everything(model, called, request):
    diagram = sharing_diagram(request.getfixturevalue(model))
    assert set(kinds(diagram).values()) == {"shared"}
    assert all(calls == [f"{called}[1]", f"{called}[2]"] for _, calls in diagram.readers)


def test_an_identity_clone_is_tied_to_its_original(identity_clone):
    diagram = sharing_diagram(identity_clone)
    assert set(kinds(diagram).values()) == {"tied"}
    assert all(calls == ["first", "alias"] for _, calls in diagram.readers)


def test_variables_no_call_reads_are_unused_and_drawn_last(unused_weights):
    diagram = sharing_diagram(unused_weights)
    assert [n.label for n in diagram.variables[-2:]] == ["wrap/spare/kernel", "wrap/spare/bias"]
    assert [n.kind for n in diagram.variables[-2:]] == ["unused", "unused"]
    assert not [e for e in diagram.edges if e.variable in {n.key for n in diagram.variables[-2:]}]
    assert "2 unused" in repr(diagram)


def test_frozen_variables_say_so(frozen_shared):
    details = {n.label: n.detail for n in sharing_diagram(frozen_shared).variables}
    assert details["encoder/kernel"] == "(4, 3) · 12 params · non-trainable"
    assert details["head/kernel"] == "(3, 1) · 3 params"


# --- one box per layer ----------------------------------------------------------------------


def test_group_by_layer_puts_a_layers_variables_in_one_box(siamese):
    diagram = sharing_diagram(siamese, group="layer")
    assert [(n.label, n.kind, n.params, n.paths) for n in diagram.variables] == [
        ("encoder", "shared", 15, ("encoder/kernel", "encoder/bias")),
        ("score", "own", 4, ("score/kernel", "score/bias")),
    ]
    assert diagram.node("variable:0").detail == "kernel, bias · 15 params"
    assert dict(diagram.readers) == {"encoder": ["encoder[1]", "encoder[2]"], "score": ["score"]}
    assert repr(diagram) == (
        "SharingDiagram('siamese': 4 calls; 2 boxes, 19 parameters; 1 own, 1 shared, 0 tied)"
    )


def test_group_by_layer_keeps_a_tied_kernel_apart_from_its_layers_bias(tied_autoencoder):
    diagram = sharing_diagram(tied_autoencoder, group="layer")
    assert [(n.label, n.kind, n.paths) for n in diagram.variables] == [
        ("encoder", "own", ("encoder/bias",)),
        ("encoder", "tied", ("encoder/kernel",)),
        ("decoder", "own", ("decoder/bias",)),
    ]
    assert diagram.total_params == tied_autoencoder.count_params()
    assert repr(diagram).startswith("SharingDiagram('autoencoder': 2 calls; 3 boxes, 27 parameters")


def test_group_by_layer_notes_non_trainable_parameters(zoo):
    boxes = {n.label: n for n in sharing_diagram(zoo, group="layer").variables}
    assert (
        boxes["bn"].detail
        == "gamma, beta, moving_mean, moving_variance · 16 params (8 non-trainable)"
    )
    assert boxes["lstm/lstm_cell"].params == 392


def test_group_must_be_variable_or_layer(siamese):
    with pytest.raises(ValueError, match="group must be 'variable' or 'layer'"):
        sharing_diagram(siamese, group="block")


# --- layout ---------------------------------------------------------------------------------


def test_calls_go_top_to_bottom_in_data_flow_order_with_variables_beside_them(known):
    diagram = sharing_diagram(known)
    plan = diagram.layout
    call_pos = [plan.positions[n.key] for n in diagram.calls]
    variable_pos = [plan.positions[n.key] for n in diagram.variables]
    assert len({x for x, _ in call_pos}) == 1 and len({x for x, _ in variable_pos}) <= 1
    assert all(a[1] > b[1] for a, b in zip(call_pos, call_pos[1:], strict=False)), (
        "calls not top to bottom"
    )
    assert all(a[1] > b[1] for a, b in zip(variable_pos, variable_pos[1:], strict=False))
    if variable_pos:
        assert variable_pos[0][0] > call_pos[0][0]
    calls_w, variables_w = plan.box_widths
    for (x, y), w in [*((p, calls_w) for p in call_pos), *((p, variables_w) for p in variable_pos)]:
        assert 0 < x - w / 2 and x + w / 2 < plan.width and 0 < y < plan.height
    for node in diagram.nodes:
        assert diagram.graph.nodes[node.key]["pos"] == plan.positions[node.key]


# --- the drawing ----------------------------------------------------------------------------


def boxes(figure: Figure) -> dict[str, FancyBboxPatch]:
    return {
        p.get_gid(): p
        for p in figure.axes[0].patches
        if isinstance(p, FancyBboxPatch) and p.get_gid()
    }


def test_boxes_and_lines_are_coloured_by_kind(tied_autoencoder, siamese):
    for model in (tied_autoencoder, siamese):
        diagram = sharing_diagram(model)
        figure = diagram.figure()
        drawn = boxes(figure)
        for node in diagram.variables:
            patch = drawn[f"sharing-{node.key.replace(':', '-')}"]
            assert to_hex(patch.get_facecolor()) == STYLES[node.kind].face.lower()
            assert to_hex(patch.get_edgecolor()) == STYLES[node.kind].edge.lower()
        lines = {line.get_gid(): line for line in figure.axes[0].lines}
        assert len(lines) == len(diagram.edges)
        for edge in diagram.edges:
            line = lines[
                f"sharing-edge-{edge.variable.replace(':', '-')}-{edge.call.replace(':', '-')}"
            ]
            assert to_hex(line.get_color()) == STYLES[edge.kind].line.lower()
    assert STYLES["shared"].face != STYLES["tied"].face != STYLES["own"].face


def test_the_legend_names_every_kind_with_its_count(tied_autoencoder, unused_weights):
    legend = sharing_diagram(tied_autoencoder).figure().axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "layer call (inputs at the top)",
        f"{KINDS['own']} (2)",
        f"{KINDS['shared']} (0)",
        f"{KINDS['tied']} (1)",
    ]
    legend = sharing_diagram(unused_weights).figure().axes[0].get_legend()
    assert legend.get_texts()[-1].get_text() == f"{KINDS['unused']} (2)"


def test_every_label_and_count_is_written_on_the_figure(siamese):
    diagram = sharing_diagram(siamese)
    texts = [t.get_text() for t in diagram.figure().axes[0].texts]
    assert diagram.title in texts
    for node in diagram.nodes:
        assert node.label in texts and node.detail in texts


def test_the_figure_is_not_left_open_in_pyplot(siamese):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    sharing_diagram(siamese).figure()
    assert plt.get_fignums() == before


# --- SVG, PNG and the notebook ----------------------------------------------------------------


def test_svg_is_the_same_every_time_and_has_no_date(siamese):
    first = sharing_diagram(siamese).to_svg()
    keras.backend.clear_session(free_memory=False)
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    encoder = layers.Dense(3, name="encoder")
    distance = layers.Subtract(name="difference")([encoder(left), encoder(right)])
    again = keras.Model([left, right], layers.Dense(1, name="score")(distance), name="siamese")
    assert sharing_diagram(again).to_svg() == first
    assert "<dc:date>" not in first


def test_svg_is_the_same_in_another_process(tied_autoencoder, tmp_path: Path):
    """What nbval needs: a notebook re-run in a new kernel draws the very same SVG."""
    import subprocess
    import sys

    script = (
        "import sys; sys.path.insert(0, sys.argv[2])\n"
        "from known_models import autoencoder, DenseTransposed\n"
        "from helpers import sharing_diagram\n"
        "sharing_diagram(autoencoder(DenseTransposed)).save(sys.argv[1])\n"
    )
    path = tmp_path / "other.svg"
    subprocess.run(
        [sys.executable, "-c", script, str(path), str(Path(__file__).resolve().parent)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
    here = sharing_diagram(tied_autoencoder).to_svg()
    assert path.read_text(encoding="utf-8") == here
    assert "autoencoder: 27 parameters" in here


def test_svg_is_valid_and_holds_the_labels_as_text(siamese):
    svg = sharing_diagram(siamese).to_svg()
    root = ET.fromstring(svg.encode())
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {"".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"encoder[1]", "encoder[2]", "encoder/kernel", "(4, 3) · 12 params"} <= texts
    ids = {element.get("id") for element in root.iter()}
    assert {"sharing-diagram", "sharing-call-0", "sharing-variable-0", "sharing-legend"} <= ids


def test_save_writes_svg_and_png(siamese, tmp_path: Path):
    diagram = sharing_diagram(siamese)
    svg = diagram.save(tmp_path / "out" / "siamese.svg")
    assert svg.read_text(encoding="utf-8") == diagram.to_svg()
    png = diagram.save(tmp_path / "siamese.png", dpi=100)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(png).shape
    assert (width, height) == (
        round(diagram.layout.width * 100),
        round(diagram.layout.height * 100),
    )
    with pytest.raises(ValueError, match=r"\.svg or \.png, not 'siamese.pdf'"):
        diagram.save(tmp_path / "siamese.pdf")
    assert not (tmp_path / "siamese.pdf").exists()


def test_a_notebook_shows_it_as_svg_once(siamese):
    """What the IPython kernel sends to JupyterLab for a cell that ends with the diagram."""
    diagram = sharing_diagram(siamese)
    data, _ = DisplayFormatter().format(diagram)
    assert set(data) == {"text/plain", "image/svg+xml"}
    assert data["image/svg+xml"] == diagram.to_svg()
    assert data["text/plain"] == (
        "SharingDiagram('siamese': 4 calls; 4 variables, 19 parameters; 2 own, 2 shared, 0 tied)"
    )


# --- the hint for failing checks ----------------------------------------------------------------


def test_a_check_can_point_to_the_diagram(two_towers, siamese):
    with pytest.raises(CheckFailed) as failure:
        assert_shared(two_towers, "tower_a", "tower_b", hint=DIAGRAM_HINT)
    assert str(failure.value).endswith("\nHint: " + DIAGRAM_HINT)
    assert "helpers.sharing_diagram(model)" in DIAGRAM_HINT
    with pytest.raises(CheckFailed, match=r"sharing_diagram\(siamese\)"):
        assert_not_shared(siamese, "encoder", "encoder", hint=diagram_hint("siamese"))


def test_a_model_without_variables_still_draws():
    x = keras.Input((3,), name="x")
    model = keras.Model(x, layers.ReLU(name="relu")(x), name="plain")
    diagram = sharing_diagram(model)
    assert (
        [n.label for n in diagram.calls] == ["relu"]
        and diagram.variables == []
        and diagram.edges == []
    )
    assert "<svg" in diagram.to_svg()
    assert np.isclose(diagram.total_params, 0)


# --- the README's picture ---------------------------------------------------------------------


def test_the_readme_diagram_script_draws_the_siamese_model(tmp_path: Path):
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "docs" / "make_sharing_diagram.py"
    spec = importlib.util.spec_from_file_location("make_sharing_diagram", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.OUTPUT == script.parent / "sharing-diagram.png" and module.OUTPUT.is_file()
    diagram = module.readme_diagram()
    assert dict(diagram.readers)["encoder/kernel"] == ["encoder[1]", "encoder[2]"]
    assert diagram.counts["shared"] == 2
    written = module.main(tmp_path / "readme.png")
    assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- the other model kinds the helpers read -------------------------------------------------


@pytest.mark.parametrize(
    "build, calls, kinds",
    [
        (
            "subclassed_siamese",
            ["enc[1]", "enc[2]", "head"],
            {"own": 2, "shared": 2, "tied": 0, "unused": 0},
        ),
        (
            "wrapper_in_sequential",
            ["twice", "twice/inner[1]", "twice/inner[2]", "out"],
            {"own": 2, "shared": 2, "tied": 0, "unused": 0},
        ),
        (
            "graph_with_ops",
            ["enc[1]", "enc[2]", "embed", "pool", "head"],
            {"own": 3, "shared": 2, "tied": 0, "unused": 0},
        ),
        (
            "subclassed_tied_autoencoder",
            ["encoder", "tied_autoencoder"],
            {"own": 2, "shared": 0, "tied": 1, "unused": 0},
        ),
    ],
)
def test_subclassed_models_nested_calls_and_operations_are_drawn(build, calls, kinds):
    """Subclassed models, calls made inside a layer and graphs with operations: the calls
    drawn are the model's calls (nested ones after their parent, operations left out) and
    every variable is joined to the calls that read it."""
    import architectures

    model = getattr(architectures, build)()
    diagram = sharing_diagram(model)
    assert [node.label for node in diagram.calls] == calls
    # The listed calls first; then any call that reads a variable without being a layer call
    # (the subclassed autoencoder's own call() reads the encoder's kernel: the tie).
    listed = [c.label for c in layer_calls(model, nested=True)]
    assert calls[: len(listed)] == listed
    assert diagram.counts == kinds
    uses = variable_uses(model)
    assert sorted((label, tuple(c)) for label, c in diagram.readers) == sorted(
        (u.path, tuple(u.labels)) for u in uses
    )
    assert "<svg" in diagram.to_svg()
