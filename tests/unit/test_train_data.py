"""The image-folder reader of ``rawvision train``: classes, bad files, bad folders, the seeded split."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rawvision.cli import main as cli
from rawvision.train.data import FEW_IMAGES, DataError, check_counts, decoded, scan_folder, split
from rawvision.train.progress import Progress
from rawvision.transforms import PreprocessSpec

SPEC = PreprocessSpec(resize=(32, 32), mean=(0.0,) * 3, std=(1.0,) * 3)


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (value, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def make(root: Path, counts: dict[str, int]) -> Path:
    for name, count in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i}.png").write_bytes(png(i))
    return root


def test_classes_are_sorted_subfolders_and_hidden_entries_are_ignored(tmp_path: Path) -> None:
    root = make(tmp_path, {"b": 2, "a": 3})
    (root / ".cache").mkdir()
    (root / "a" / ".DS_Store").write_bytes(b"junk")
    folder = scan_folder(root)
    assert folder.classes == ("a", "b")
    assert [s.label for s in folder.samples] == [0, 0, 0, 1, 1]


@pytest.mark.parametrize("counts", [{"only": 3}, {}])
def test_fewer_than_two_classes_is_refused(tmp_path: Path, counts: dict[str, int]) -> None:
    with pytest.raises(DataError, match="at least two"):
        scan_folder(make(tmp_path, counts))


def test_an_empty_class_folder_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"class folder .*empty.* is empty"):
        scan_folder(make(tmp_path, {"full": 3, "empty": 0}))


def test_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is not a folder"):
        scan_folder(tmp_path / "nowhere")


def test_validation_classes_must_match(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="expected the training classes"):
        scan_folder(make(tmp_path, {"a": 1, "c": 1}), ("a", "b"))


def test_unreadable_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    root = make(tmp_path, {"a": 2, "b": 1})
    (root / "b" / "notes.txt").write_text("hello")
    (root / "b" / "cut.png").write_bytes(png(1)[:40])
    results = dict(decoded(scan_folder(root).samples, SPEC))
    bad = {s.path.name: r.reason for s, r in results.items() if not isinstance(r, np.ndarray)}
    assert set(bad) == {"notes.txt", "cut.png"}
    good = [r for r in results.values() if isinstance(r, np.ndarray)]
    assert len(good) == 3
    assert all(r.shape == (32, 32, 3) and r.dtype == np.uint8 for r in good)


def test_a_class_left_without_readable_images_is_refused_and_a_small_one_warned(tmp_path: Path) -> None:
    folder = scan_folder(make(tmp_path, {"a": 2, "b": FEW_IMAGES}))
    assert check_counts(folder, np.array([0, 0] + [1] * FEW_IMAGES)) == [
        f"class 'a' has only 2 usable image(s) (fewer than {FEW_IMAGES}); its scores will mean little"]
    with pytest.raises(DataError, match=r"\['b'\].*no readable"):
        check_counts(folder, np.array([0, 0]))


def test_split_is_seeded_stratified_and_keeps_a_training_image_per_class() -> None:
    labels = np.array([0] * 10 + [1] * 5 + [2] * 1)
    train, held = split(labels, 0.2, seed=3)
    assert set(train).isdisjoint(held)
    assert sorted([*train, *held]) == list(range(16))
    assert np.bincount(labels[held], minlength=3).tolist() == [2, 1, 0]
    again = split(labels, 0.2, seed=3)
    assert (again[0] == train).all() and (again[1] == held).all()
    assert not (split(labels, 0.2, seed=4)[1] == held).all()


def test_split_with_nothing_to_hold_out_is_refused() -> None:
    with pytest.raises(DataError, match="nothing can be held out"):
        split(np.array([0, 1]), 0.2, seed=0)


def test_cli_exits_2_with_the_message_on_a_bad_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make(tmp_path, {"cats": 3})
    assert cli.main(["train", "pets", "--data", str(root), "--no-add"]) == 2
    assert "at least two" in capsys.readouterr().err


def test_progress_bar_counts_to_the_total() -> None:
    stream = io.StringIO()
    progress = Progress("features", 3, stream)
    progress.advance(2)
    progress.advance(5)
    progress.close()
    assert stream.getvalue().rstrip().endswith("features [" + "#" * 30 + "] 3/3")
