"""Data sets for the lessons, built from data that ships with scikit-learn (nothing is
downloaded).

:func:`digit_images` gives the 8 x 8 handwritten digits of ``sklearn.datasets.load_digits``,
split once and for all into training and test *images*, so that pairs drawn from the test
images show digits the model never saw in training.

:func:`digit_pairs` is the capstone's "form reader" data: each example is a form with two
handwritten digits (boxes A and B) and the two digits a clerk typed from it, with typing
mistakes. The targets are three answers about the handwriting: do A and B show the same
digit, is A's digit larger than B's, and which digit is A.

Example:
    >>> x, y = digit_pairs("train", 4, seed=0)
    >>> {name: (a.shape, str(a.dtype)) for name, a in x.items()}
    {'image_a': ((4, 64), 'float32'), 'image_b': ((4, 64), 'float32'), 'typed': ((4, 2), 'int32')}
    >>> {name: (a.shape, str(a.dtype)) for name, a in y.items()}
    {'same': ((4,), 'float32'), 'larger': ((4,), 'float32'), 'digit': ((4,), 'int32')}
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["digit_images", "digit_pairs", "TRAIN_IMAGES", "DEFAULT_PAIRS", "DEFAULT_SEEDS"]

#: How many of the 1,797 images are training images; the other 597 are test images.
TRAIN_IMAGES = 1200
#: Number of pairs :func:`digit_pairs` draws when ``n`` is not given.
DEFAULT_PAIRS = {"train": 3000, "test": 1000}
#: Seed :func:`digit_pairs` uses when ``seed`` is not given, per split.
DEFAULT_SEEDS = {"train": 0, "test": 1}
_SPLIT_SEED = 0  # the permutation that splits the images; fixed forever


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # imported here: only lessons with data need it

    digits = load_digits()
    images = (digits.data / 16.0).astype("float32")  # pixel values 0..16 -> 0..1
    labels = digits.target.astype("int32")
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _check_split(split: str) -> None:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")


def digit_images(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)`` of one split: images of shape ``(n, 64)`` (8 x 8 pixels,
    flattened, values 0..1, float32) and their digits 0..9 (int32).

    The split is fixed: the same 1,200 training and 597 test images on every call and
    every machine.

    >>> images, labels = digit_images("test")
    >>> images.shape, labels.shape, float(images.max())
    ((597, 64), (597,), 1.0)
    """
    _check_split(split)
    images, labels = _all_digits()
    order = np.random.default_rng(_SPLIT_SEED).permutation(len(images))
    chosen = order[:TRAIN_IMAGES] if split == "train" else order[TRAIN_IMAGES:]
    return images[chosen], labels[chosen]


def digit_pairs(
    split: str = "train",
    n: int | None = None,
    *,
    typo_rate: float = 0.25,
    seed: int | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(x, y)``: ``n`` forms drawn from the images of ``split``.

    ``x`` has three inputs: ``"image_a"`` and ``"image_b"`` (``(n, 64)`` float32, two
    different images) and ``"typed"`` (``(n, 2)`` int32: the digits a clerk typed for box
    A and box B; each one is, with probability ``typo_rate``, replaced by another digit).

    ``y`` has three targets: ``"same"`` (1.0 when A and B show the same digit; half the
    pairs do), ``"larger"`` (1.0 when A's digit is larger than B's) and ``"digit"`` (A's
    digit, 0..9).

    ``n`` defaults to :data:`DEFAULT_PAIRS` of the split and ``seed`` to
    :data:`DEFAULT_SEEDS`; the same arguments always give the same pairs.

    >>> x, y = digit_pairs("test", 1000, typo_rate=0.0)
    >>> bool((x["typed"][:, 0] == y["digit"]).all()), round(float(y["same"].mean()), 1)
    (True, 0.5)
    """
    _check_split(split)
    if not 0.0 <= typo_rate <= 1.0:
        raise ValueError(f"typo_rate must be between 0 and 1, not {typo_rate}")
    n = DEFAULT_PAIRS[split] if n is None else int(n)
    if n < 1:
        raise ValueError(f"n must be at least 1, not {n}")
    rng = np.random.default_rng(DEFAULT_SEEDS[split] if seed is None else seed)
    images, labels = digit_images(split)
    pools = [np.flatnonzero(labels == d) for d in range(10)]

    a = rng.integers(0, len(images), n)
    digit_a = labels[a]
    same = rng.random(n) < 0.5
    digit_b = np.where(same, digit_a, (digit_a + rng.integers(1, 10, n)) % 10).astype("int32")
    b = np.empty(n, dtype=np.int64)
    for d in range(10):
        rows = np.flatnonzero(digit_b == d)
        b[rows] = pools[d][rng.integers(0, len(pools[d]), len(rows))]
    # Two different images even for "same" pairs (the same image twice would be too easy).
    clash = np.flatnonzero(a == b)
    for row in clash:
        others = pools[digit_b[row]][pools[digit_b[row]] != a[row]]
        b[row] = rng.choice(others)

    typed = np.stack([digit_a, digit_b], axis=1)
    typo = rng.random(typed.shape) < typo_rate
    typed = np.where(typo, (typed + rng.integers(1, 10, typed.shape)) % 10, typed).astype("int32")

    x = {"image_a": images[a], "image_b": images[b], "typed": typed}
    y = {
        "same": (digit_a == digit_b).astype("float32"),
        "larger": (digit_a > digit_b).astype("float32"),
        "digit": digit_a.astype("int32"),
    }
    return x, y
