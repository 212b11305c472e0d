"""Paths that are not regular image files: FIFOs, devices, oversized files, linked folders, link loops.

Only a regular file is an image, and it is judged from ``os.stat`` before it is opened (opening a
FIFO blocks until a writer comes; reading a device may never end). Linked folders are followed; a
link back into the folders being listed is reported, never followed for ever nor dropped unseen.
"""

from __future__ import annotations

import logging
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from tree_builders import random_image, write_png

from facetransfer.config import DataSettings
from facetransfer.imaging.decoding import (
    DEFAULT_MAX_FILE_BYTES,
    FileTooLargeError,
    NotARegularFileError,
    decode_rgb,
)
from facetransfer.ingestion.inspection import Inspector
from facetransfer.ingestion.readers import read_source
from facetransfer.ingestion.readers.paths import find_image_files
from facetransfer.ingestion.records import QuarantineCheck
from facetransfer.ingestion.sources import SourceConfig
from facetransfer.scoring.predict import collect_images
from tests.data.bad_inputs.cases_files import FifoWatch, write_padded_png

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="this platform has no FIFOs")
needs_dev_zero = pytest.mark.skipif(not Path("/dev/zero").exists(), reason="this platform has no /dev/zero")


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[FifoWatch]:
    """A FIFO named ``x.png`` beside two good images in ``tmp_path / "mine"``."""
    for index in range(2):
        write_png(tmp_path / "mine" / f"good{index}.png", random_image(index))
    watch = FifoWatch(tmp_path / "mine" / "x.png", seconds=60)
    yield watch
    watch.close()


def _folder_source(folder: Path, role: str = "real") -> SourceConfig:
    return SourceConfig(name="mine", format="folder", path=str(folder), role=role)


def _checks(result) -> dict[str, str]:
    return {Path(entry.path).name: entry.check for entry in result.quarantine}


# ------------------------------------------------------------------------ not regular files ---


@needs_fifo
def test_a_fifo_named_png_is_quarantined_without_being_opened(fifo: FifoWatch, tmp_path: Path) -> None:
    result = read_source(_folder_source(tmp_path / "mine"), "/")
    assert not fifo.opened.is_set(), "ingestion opened the FIFO (it would hang without the watch)"
    assert _checks(result) == {"x.png": QuarantineCheck.NOT_A_REGULAR_FILE}
    assert "FIFO" in result.quarantine[0].reason
    assert len(result.rows) == 2


@needs_fifo
def test_a_fifo_in_an_ffhq_tree_is_quarantined_without_being_opened(tmp_path: Path) -> None:
    folder = tmp_path / "ffhq" / "images1024x1024" / "00000"
    write_png(folder / "00000.png", random_image(0))
    watch = FifoWatch(folder / "00001.png", seconds=60)
    try:
        result = read_source(SourceConfig(name="ffhq", format="ffhq", path=str(tmp_path / "ffhq")), "/")
    finally:
        watch.close()
    assert not watch.opened.is_set()
    assert _checks(result) == {"00001.png": QuarantineCheck.NOT_A_REGULAR_FILE}
    assert len(result.rows) == 1


@needs_fifo
def test_a_fifo_part_mask_of_celebamask_hq_is_quarantined_without_being_opened(tmp_path: Path) -> None:
    from tree_builders import write_jpeg

    part = np.zeros((16, 16), dtype=np.uint8)
    for index in range(2):
        write_jpeg(tmp_path / "CelebA-HQ-img" / f"{index}.jpg", random_image(index, 32))
    write_png(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / "00001_skin.png", part)
    watch = FifoWatch(tmp_path / "CelebAMask-HQ-mask-anno" / "0" / "00000_skin.png", seconds=60)
    config = SourceConfig(name="celeba", format="celebamask_hq", path=str(tmp_path))
    try:
        result = read_source(config, "/", derived_dir=tmp_path / "derived")
    finally:
        watch.close()
    assert not watch.opened.is_set()
    assert [entry.check for entry in result.quarantine] == [QuarantineCheck.UNREADABLE_MASK]
    assert "00000_skin.png" in result.quarantine[0].reason and "FIFO" in result.quarantine[0].reason
    assert len(result.rows) == 1


@needs_dev_zero
def test_a_link_to_dev_zero_named_png_is_quarantined_not_read(tmp_path: Path) -> None:
    write_png(tmp_path / "mine" / "good.png", random_image(0))
    (tmp_path / "mine" / "zero.png").symlink_to("/dev/zero")
    result = read_source(_folder_source(tmp_path / "mine"), "/")
    assert _checks(result) == {"zero.png": QuarantineCheck.NOT_A_REGULAR_FILE}
    assert "character device" in result.quarantine[0].reason
    assert len(result.rows) == 1


def test_a_link_to_a_regular_file_is_an_image(tmp_path: Path) -> None:
    """DVC's symlink cache mode makes every tracked file a link: links to files stay images."""
    write_png(tmp_path / "cache" / "ab12", random_image(0))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "linked.png").symlink_to(tmp_path / "cache" / "ab12")
    result = read_source(_folder_source(tmp_path / "mine"), "/")
    assert result.quarantine == [] and len(result.rows) == 1


@needs_fifo
def test_decoding_refuses_a_fifo_without_opening_it(fifo: FifoWatch) -> None:
    with pytest.raises(NotARegularFileError, match=r"x\.png.*FIFO"):
        decode_rgb(fifo.path)
    assert not fifo.opened.is_set()


@needs_dev_zero
def test_decoding_refuses_a_link_to_a_device(tmp_path: Path) -> None:
    (tmp_path / "zero.png").symlink_to("/dev/zero")
    with pytest.raises(NotARegularFileError, match="character device"):
        decode_rgb(tmp_path / "zero.png")


@needs_fifo
def test_predict_keeps_a_fifo_named_on_the_command_line_for_an_error_row(fifo: FifoWatch) -> None:
    assert collect_images([fifo.path]) == [fifo.path]
    assert not fifo.opened.is_set()


def test_predict_still_refuses_a_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        collect_images([tmp_path / "missing.png"])


# -------------------------------------------------------------------------- the size limit ---


def test_a_file_over_the_byte_limit_is_quarantined_from_its_size_unread(tmp_path: Path) -> None:
    path = write_png(tmp_path / "big.png", random_image(0, 64))
    inspector = Inspector(max_file_bytes=path.stat().st_size - 1)
    facts = inspector.image_facts(path)
    assert facts.check is QuarantineCheck.FILE_TOO_LARGE
    assert str(path.stat().st_size) in facts.problem and "max_file_bytes" in facts.problem
    assert inspector.hashed_files == 0, "the file was read although its size settled it"
    # the limit is a setting: a larger one reads the same file, cache or not
    assert Inspector(inspector.cache).image_facts(path).check is None


def test_a_png_far_larger_than_its_pixels_is_refused_after_its_header(tmp_path: Path) -> None:
    path = write_padded_png(tmp_path / "padded.png", 70 * 1024 * 1024)
    inspector = Inspector()
    tracemalloc.start()
    try:
        facts = inspector.image_facts(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert facts.check is QuarantineCheck.FILE_TOO_LARGE, facts
    assert "64x64" in facts.problem
    assert peak < 16 * 1024 * 1024, f"{peak} bytes held: the file was read whole"
    with pytest.raises(FileTooLargeError, match="64x64"):
        decode_rgb(path)


def test_decoding_refuses_a_file_over_the_byte_limit(tmp_path: Path) -> None:
    path = write_png(tmp_path / "big.png", random_image(0, 64))
    with pytest.raises(FileTooLargeError, match=r"big\.png.*bytes"):
        decode_rgb(path, max_bytes=100)
    assert decode_rgb(path).shape == (64, 64, 3)


def test_the_file_size_limit_is_a_data_setting() -> None:
    sources = {
        "segmentation_sources": [{"name": "m", "format": "mut1ny", "path": "m"}],
        "detection_sources": [{"name": "f", "format": "folder", "path": "f", "role": "real"}],
    }
    fields = DataSettings.model_fields
    assert fields["max_file_bytes"].default == DEFAULT_MAX_FILE_BYTES == 512 * 1024 * 1024
    assert DataSettings.model_validate({**sources, "max_file_bytes": 1024}).max_file_bytes == 1024
    with pytest.raises(ValidationError, match="max_file_bytes"):
        DataSettings.model_validate({**sources, "max_file_bytes": 0})


# ----------------------------------------------------------------- linked folders and loops ---


def test_a_linked_folder_is_followed_by_the_folder_reader(tmp_path: Path) -> None:
    write_png(tmp_path / "mine" / "real" / "cam" / "a.png", random_image(0))
    write_png(tmp_path / "elsewhere" / "b.png", random_image(1))
    (tmp_path / "mine" / "real" / "phone").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    result = read_source(SourceConfig(name="mine", format="folder", path=str(tmp_path / "mine")), "/")
    assert sorted((row.source, Path(row.path).name) for row in result.rows) == [
        ("cam", "a.png"),
        ("phone", "b.png"),
    ]
    assert result.quarantine == []


def test_a_linked_folder_is_followed_by_the_ffhq_reader(tmp_path: Path) -> None:
    images = tmp_path / "ffhq" / "images1024x1024"
    write_png(images / "00000" / "00000.png", random_image(0))
    write_png(tmp_path / "second_disk" / "01000" / "01000.png", random_image(1))
    (images / "01000").symlink_to(tmp_path / "second_disk" / "01000", target_is_directory=True)
    result = read_source(SourceConfig(name="ffhq", format="ffhq", path=str(tmp_path / "ffhq")), "/")
    assert sorted(Path(row.path).name for row in result.rows) == ["00000.png", "01000.png"]


def test_a_link_back_to_a_folder_above_is_quarantined_as_a_loop(tmp_path: Path) -> None:
    write_png(tmp_path / "mine" / "sub" / "a.png", random_image(0))
    (tmp_path / "mine" / "sub" / "back").symlink_to("..", target_is_directory=True)
    result = read_source(_folder_source(tmp_path / "mine"), "/")
    assert len(result.rows) == 1
    assert _checks(result) == {"back": QuarantineCheck.SYMLINK_LOOP}
    assert str(tmp_path / "mine") in result.quarantine[0].reason


def test_links_pointing_at_each_other_are_quarantined_as_a_loop(tmp_path: Path) -> None:
    write_png(tmp_path / "mine" / "good.png", random_image(0))
    (tmp_path / "mine" / "a.png").symlink_to("b.png")
    (tmp_path / "mine" / "b.png").symlink_to("a.png")
    (tmp_path / "mine" / "c").symlink_to("c")  # not named as an image, still a loop to report
    result = read_source(_folder_source(tmp_path / "mine"), "/")
    assert _checks(result) == {name: QuarantineCheck.SYMLINK_LOOP for name in ("a.png", "b.png", "c")}
    assert len(result.rows) == 1


def test_two_links_to_one_folder_list_it_once_and_say_so(tmp_path: Path) -> None:
    write_png(tmp_path / "shared" / "a.png", random_image(0))
    (tmp_path / "mine").mkdir()
    for name in ("first", "second"):
        (tmp_path / "mine" / name).symlink_to(tmp_path / "shared", target_is_directory=True)
    listing = find_image_files(tmp_path / "mine")
    assert listing.files == [tmp_path / "mine" / "first" / "a.png"]
    assert [(Path(link.link).name, link.loop) for link in listing.skipped_links] == [("second", False)]
    assert "first" in listing.skipped_links[0].reason


def test_predict_follows_linked_folders_and_warns_of_loops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_png(tmp_path / "photos" / "a.png", random_image(0))
    write_png(tmp_path / "elsewhere" / "b.png", random_image(1))
    (tmp_path / "photos" / "more").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "photos" / "back").symlink_to(".", target_is_directory=True)
    (tmp_path / "photos" / "x.png").symlink_to("y.png")
    (tmp_path / "photos" / "y.png").symlink_to("x.png")
    with caplog.at_level(logging.WARNING):
        images = collect_images([tmp_path / "photos", tmp_path / "photos" / "x.png"])
    assert sorted(path.name for path in images) == ["a.png", "b.png"]
    for path in images:
        path.resolve(strict=True)  # what predict does next: no loop left to raise on
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "back" in warned and "x.png" in warned and "y.png" in warned and "loop" in warned
