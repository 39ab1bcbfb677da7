from __future__ import annotations

import numpy as np
import pytest

from rawvision.classify import classify, load_labels, softmax, top_k


def test_softmax_is_a_distribution_and_stable() -> None:
    probs = softmax(np.array([[1000.0, 1000.0, -1000.0], [0.0, 1.0, 2.0]]))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probs[0], [0.5, 0.5, 0.0], atol=1e-7)
    assert probs.dtype == np.float32


def test_top_k_is_descending_and_ties_keep_lower_index() -> None:
    ids, scores = top_k(np.array([[0.1, 0.3, 0.3, 0.2]]), 3)
    assert ids.tolist() == [[1, 2, 3]]
    np.testing.assert_allclose(scores, [[0.3, 0.3, 0.2]])
    assert top_k(np.ones((2, 2)), 5)[0].shape == (2, 2)
    with pytest.raises(ValueError, match="k must be positive"):
        top_k(np.ones((1, 2)), 0)


def test_classify_maps_labels(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "labels.txt"
    path.write_text("cat\ndog\nbird\n")
    labels = load_labels(path)
    result = classify(np.array([[0.0, 5.0, 1.0], [3.0, 0.0, 0.0]]), labels, 2)
    assert result.labels.tolist() == [[b"dog", b"bird"], [b"cat", b"dog"]]
    assert result.class_ids.tolist() == [[1, 2], [0, 1]]
    assert result.scores[0, 0] > result.scores[0, 1]
    with pytest.raises(ValueError, match=r"shape \[N, 3\]"):
        classify(np.zeros((1, 4)), labels, 1)


def test_blank_label_lines_are_refused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "labels.txt"
    path.write_text("a\n\nb\n")
    with pytest.raises(ValueError, match="blank"):
        load_labels(path)
