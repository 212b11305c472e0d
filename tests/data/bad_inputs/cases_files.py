"""Bad-input cases, second round: files (registered into ``cases.CASES`` on import, see ``cases.py``).

Paths that are not regular files (a FIFO, a link to a device), files over the size limit, linked
folders and link loops. A FIFO is made with ``FifoWatch``: should an entry point open it (which
blocks until a writer comes), the watch opens it for writing and closes it, so the case ends with
a wrong outcome instead of hanging the test run.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.data.bad_inputs.builders import IMAGE_SIZE, plain_folder
from tests.data.bad_inputs.cases import case
from tests.data.bad_inputs.corpus import Built, accepted, error_row, quarantined
from tests.data.tree_builders import random_image, write_png

FIFO_WATCH_SECONDS = 600.0
"""How long a corpus FIFO is watched (longer than any case takes)."""


class FifoWatch:
    """A FIFO at ``path`` and a thread that notices, and releases, anyone who opens it to read.

    ``opened`` is set when a reader had the FIFO open (or was blocked opening it); the watch then
    opens it for writing and closes it at once, so the reader sees an empty file and goes on.

    Args:
        path: where to make the FIFO.
        seconds: how long to watch.
    """

    def __init__(self, path: Path, *, seconds: float = FIFO_WATCH_SECONDS) -> None:
        if not hasattr(os, "mkfifo"):
            pytest.skip("this platform has no FIFOs (os.mkfifo)")
        path.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(path)
        self.path = path
        self.opened = threading.Event()
        self._stop = threading.Event()
        self._deadline = time.monotonic() + seconds
        self._thread = threading.Thread(target=self._watch, name=f"fifo-watch {path.name}", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                # Fails (ENXIO) while no reader has the FIFO open; succeeds, and wakes a blocked reader, else.
                descriptor = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except FileNotFoundError:
                return
            except OSError:
                self._stop.wait(0.05)
                continue
            self.opened.set()
            os.close(descriptor)

    def close(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join()


def _link_to_dev_zero(link: Path) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("this platform has no /dev/zero")
    link.symlink_to("/dev/zero")


def write_padded_png(path: Path, padding_bytes: int, side: int = 64) -> Path:
    """A valid ``side``×``side`` PNG carrying ``padding_bytes`` of a private ancillary chunk (not pixels)."""
    import io
    import struct
    import zlib

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(random_image(5, side)).save(buffer, format="PNG")
    data = buffer.getvalue()
    payload = bytes(padding_bytes)
    chunk = struct.pack(">I", len(payload)) + b"zzZz" + payload
    chunk += struct.pack(">I", zlib.crc32(b"zzZz" + payload))
    end = data.rindex(b"IEND") - 4  # the private chunk goes before IEND, where a decoder must read it
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[:end] + chunk + data[end:])
    return path


# ---------------------------------------------------------------- ingestion: file kinds ---


@case("FIFO named .png", "ingestion", quarantined("not_a_regular_file", "x.png"))
def _fifo(root: Path) -> Built:
    source = plain_folder(root)
    FifoWatch(root / "mine" / "x.png")
    return Built([source], good=2)


@case("symbolic link to /dev/zero named .png", "ingestion", quarantined("not_a_regular_file", "zero.png"))
def _dev_zero(root: Path) -> Built:
    source = plain_folder(root)
    _link_to_dev_zero(root / "mine" / "zero.png")
    return Built([source], good=2)


@case(
    "70 MB PNG of 64x64 pixels (padding in a private chunk)",
    "ingestion",
    quarantined("file_too_large", "padded.png"),
)
def _padded_png(root: Path) -> Built:
    source = plain_folder(root)
    write_padded_png(root / "mine" / "padded.png", 70 * 1024 * 1024)
    return Built([source], good=2)


@case("symbolic link to a folder of images", "ingestion", accepted())
def _linked_folder(root: Path) -> Built:
    source = plain_folder(root)
    for index in range(2):
        write_png(root / "elsewhere" / f"linked{index}.png", random_image(30 + index, IMAGE_SIZE))
    (root / "mine" / "more").symlink_to(root / "elsewhere", target_is_directory=True)
    return Built([source], good=4)


@case("symbolic link to a folder above it (loop)", "ingestion", quarantined("symlink_loop", "back"))
def _folder_loop(root: Path) -> Built:
    source = plain_folder(root)
    (root / "mine" / "sub").mkdir()
    (root / "mine" / "sub" / "back").symlink_to("..", target_is_directory=True)
    return Built([source], good=2)


@case("symbolic links pointing at each other, named .png", "ingestion", quarantined("symlink_loop", "a.png"))
def _link_loop(root: Path) -> Built:
    source = plain_folder(root)
    (root / "mine" / "a.png").symlink_to("b.png")
    (root / "mine" / "b.png").symlink_to("a.png")
    return Built([source], good=2)


# -------------------------------------------------------------------- ffhq, add-generator ---


@case("FIFO named like an FFHQ image", "ingestion", quarantined("not_a_regular_file", "00002.png"))
def _ffhq_fifo(root: Path) -> Built:
    folder = root / "ffhq" / "images1024x1024" / "00000"
    for index in range(2):
        write_png(folder / f"{index:05d}.png", random_image(40 + index, IMAGE_SIZE))
    FifoWatch(folder / "00002.png")
    return Built([{"name": "ffhq", "format": "ffhq", "path": str(root / "ffhq")}], good=2)


@case("FIFO named .png", "add-generator", quarantined("not_a_regular_file", "x.png"))
def _add_fifo(root: Path) -> Built:
    incoming = root / "incoming"
    plain_folder(incoming, role="fake", name="images")
    FifoWatch(incoming / "images" / "x.png")
    return Built(inputs=[incoming], good=2)


@case(
    "symbolic link to a folder outside the incoming folder",
    "add-generator",
    quarantined("path_escapes_root", "linked.png"),
)
def _add_linked_folder_outside(root: Path) -> Built:
    incoming = root / "incoming"
    plain_folder(incoming, role="fake", name="images")
    write_png(root / "private" / "linked.png", random_image(50, IMAGE_SIZE))
    (incoming / "images" / "more").symlink_to(root / "private", target_is_directory=True)
    return Built(inputs=[incoming], good=2)


# ------------------------------------------------------------------------------- predict ---


def _good_images(root: Path) -> Path:
    folder = root / "to_score"
    for index in range(2):
        write_png(folder / f"good{index}.png", random_image(800 + index, IMAGE_SIZE))
    return folder


@case("FIFO named .png in a folder of images", "predict", error_row("not a regular file"))
def _predict_fifo_in_folder(root: Path) -> Built:
    folder = _good_images(root)
    FifoWatch(folder / "x.png")
    return Built(inputs=[folder], good=2)


@case("FIFO named .png given as a file", "predict", error_row("x.png"))
def _predict_fifo_named(root: Path) -> Built:
    folder = _good_images(root)
    FifoWatch(root / "x.png")
    return Built(inputs=[folder, root / "x.png"], good=2)


@case("symbolic link to /dev/zero named .png", "predict", error_row("character device"))
def _predict_dev_zero(root: Path) -> Built:
    folder = _good_images(root)
    _link_to_dev_zero(folder / "zero.png")
    return Built(inputs=[folder], good=2)


@case("symbolic link to a folder of images", "predict", accepted())
def _predict_linked_folder(root: Path) -> Built:
    folder = _good_images(root)
    write_png(root / "elsewhere" / "linked.png", random_image(810, IMAGE_SIZE))
    (folder / "more").symlink_to(root / "elsewhere", target_is_directory=True)
    return Built(inputs=[folder], good=3)


@case("symbolic link loops among good images", "predict", accepted())
def _predict_loops(root: Path) -> Built:
    folder = _good_images(root)
    (folder / "back").symlink_to(".", target_is_directory=True)
    (folder / "a.png").symlink_to("b.png")
    (folder / "b.png").symlink_to("a.png")
    return Built(inputs=[folder], good=2)
