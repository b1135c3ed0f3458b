"""The capstone's form data: fixed splits, reproducible pairs, targets that match the digits."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.datasets import TRAIN_IMAGES, digit_images, digit_pairs


def _rows(images: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in images}


def test_splits_are_fixed_and_disjoint():
    train, train_labels = digit_images("train")
    test, _ = digit_images("test")
    assert train.shape == (TRAIN_IMAGES, 64) and test.shape == (1797 - TRAIN_IMAGES, 64)
    assert train.dtype == np.float32 and 0.0 <= train.min() and train.max() == 1.0
    assert set(np.unique(train_labels)) == set(range(10))
    again, _ = digit_images("train")
    assert np.array_equal(train, again)
    # No test image appears among the training images (pixel for pixel).
    assert not _rows(test) & _rows(train)


def test_pairs_are_reproducible_and_seeded():
    x1, y1 = digit_pairs("train", 50)
    x2, y2 = digit_pairs("train", 50)
    x3, _ = digit_pairs("train", 50, seed=7)
    assert all(np.array_equal(x1[k], x2[k]) for k in x1) and all(
        np.array_equal(y1[k], y2[k]) for k in y1
    )
    assert not np.array_equal(x1["image_a"], x3["image_a"])


def test_default_sizes_and_types():
    x, y = digit_pairs("test")
    assert {k: v.shape for k, v in x.items()} == {
        "image_a": (1000, 64),
        "image_b": (1000, 64),
        "typed": (1000, 2),
    }
    assert {k: v.shape for k, v in y.items()} == {
        "same": (1000,),
        "larger": (1000,),
        "digit": (1000,),
    }
    assert x["typed"].dtype == np.int32 and y["digit"].dtype == np.int32


def test_images_come_from_their_split():
    x, _ = digit_pairs("test", 300)
    test_rows = _rows(digit_images("test")[0])
    assert _rows(x["image_a"]) <= test_rows and _rows(x["image_b"]) <= test_rows


def test_targets_match_the_digits_shown():
    images, labels = digit_images("train")
    label_of = {row.tobytes(): label for row, label in zip(images, labels, strict=True)}
    x, y = digit_pairs("train", 500, typo_rate=0.0)
    digit_a = np.array([label_of[r.tobytes()] for r in x["image_a"]])
    digit_b = np.array([label_of[r.tobytes()] for r in x["image_b"]])
    assert np.array_equal(y["digit"], digit_a)
    assert np.array_equal(y["same"], (digit_a == digit_b).astype("float32"))
    assert np.array_equal(y["larger"], (digit_a > digit_b).astype("float32"))
    assert np.array_equal(x["typed"], np.stack([digit_a, digit_b], axis=1))  # no typos asked for
    assert 0.4 < y["same"].mean() < 0.6  # balanced: half the forms show one digit twice
    assert not (x["image_a"] == x["image_b"]).all(axis=1).any()  # never one image twice


def test_typos_replace_digits_at_the_given_rate():
    x, y = digit_pairs("train", 3000, typo_rate=0.25)
    wrong = x["typed"][:, 0] != y["digit"]
    assert 0.22 < wrong.mean() < 0.28
    assert x["typed"].min() >= 0 and x["typed"].max() <= 9


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"split": "valid"}, "split must be"),
        ({"n": 0}, "n must be at least 1"),
        ({"typo_rate": 1.5}, "typo_rate must be between 0 and 1"),
    ],
)
def test_bad_arguments_are_explained(kwargs, message):
    with pytest.raises(ValueError, match=message):
        digit_pairs(**kwargs)
