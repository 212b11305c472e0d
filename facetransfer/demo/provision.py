"""Getting the data onto a machine: pull it, or regenerate the demo data a pointer describes.

How a fresh clone gets its data (``ensure_data``, CLI ``facetransfer ensure-data``):

1. ``data/`` exists and is not empty: DVC's own status must say it matches ``data.dvc``
   (``verify_workspace``); a modified, added or deleted file is a ``DataVersionError`` that names
   the files and says what to run (``dvc checkout data.dvc`` to restore the committed version,
   ``dvc add data`` / ``facetransfer add-generator`` to record the change). If no ``data.dvc``
   exists yet, the data is ``dvc add``-ed and pushed first (it is not regenerable, so no
   ``demo_options`` are recorded).
2. ``data.dvc`` exists: ``dvc pull``. This works wherever the remote holds the data.
3. The pull fails (a new machine's default local remote is empty) and ``data.dvc`` carries
   ``meta.facetransfer.demo_options`` (written when the demo data was created): the demo data is
   regenerated with those options, its md5 is computed and compared with ``data.dvc``'s, and only
   if they are equal is it pushed to the remote. The generator is deterministic (same options →
   byte-identical files), so this reproduces exactly the data the pointer names; a mismatch
   (e.g. ``data/`` was changed by ``add-generator`` and never pushed anywhere reachable) raises
   ``DataVersionError``, removes the regenerated files and leaves ``data.dvc`` untouched.
4. No ``data.dvc``: the demo data is generated, ``dvc add``-ed and pushed; commit ``data.dvc``.

``add-generator`` drops ``demo_options`` from the pointer's meta, because the data then differs
from anything the generator can reproduce.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from facetransfer.demo.options import DemoOptions
from facetransfer.demo.writer import generate_demo_data
from facetransfer.ingestion.errors import DataVersionError
from facetransfer.ingestion.versioning import (
    configure_default_remote,
    open_repo,
    push_pointer,
    read_dvc_md5,
    read_dvc_meta,
    track_data,
    verify_workspace,
    write_dvc_meta,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataStatus:
    """Outcome of ``ensure_data``.

    Attributes:
        action: ``present``, ``tracked``, ``pulled``, ``regenerated`` or ``created``.
        md5: md5 of the data according to the ``.dvc`` file.
        data_dir: the tracked folder.
        remote: URL of the default remote used.
    """

    action: str
    md5: str | None
    data_dir: Path
    remote: str


def ensure_data(
    repo_root: str | Path,
    *,
    data_dir: str = "data",
    demo_options: DemoOptions | None = None,
    remote_url: str | None = None,
) -> DataStatus:
    """Make ``data/`` present and equal to ``data.dvc`` (see the module docstring for the steps).

    Args:
        repo_root: repository root holding ``data.dvc``.
        data_dir: tracked folder, relative to the root.
        demo_options: ``DemoOptions`` used only when no ``data.dvc`` exists yet (default options
            when ``None``); an existing pointer's recorded options always win.
        remote_url: default remote to configure (see ``configure_default_remote``).

    Raises:
        DataVersionError: the data can be neither pulled nor reproduced.
    """
    repo_root = Path(repo_root)
    data_path, dvc_file = repo_root / data_dir, repo_root / f"{data_dir}.dvc"
    remote = configure_default_remote(repo_root, remote_url)
    if data_path.is_dir() and any(data_path.iterdir()):
        if dvc_file.is_file():
            return DataStatus("present", verify_workspace(repo_root, data_dir), data_path, remote)
        tracked = track_data(repo_root, data_dir)  # data of unknown origin: tracked, not regenerable
        return DataStatus("tracked", tracked.new_md5, data_path, remote)
    if not dvc_file.is_file():
        options = demo_options or DemoOptions()
        generate_demo_data(data_path, options, overwrite=True)
        with open_repo(repo_root) as repo:
            repo.add(str(data_path))
        write_dvc_meta(dvc_file, {"demo_options": options.model_dump(mode="json")})
        push_pointer(repo_root, dvc_file)
        logger.info("created demo data and %s; commit it", dvc_file.name)
        return DataStatus("created", read_dvc_md5(dvc_file), data_path, remote)
    expected = read_dvc_md5(dvc_file)
    pull_error = _try_pull(repo_root, dvc_file)
    if pull_error is None:
        return DataStatus("pulled", expected, data_path, remote)
    recorded = read_dvc_meta(dvc_file).get("demo_options")
    if recorded is None:
        raise DataVersionError(
            f"cannot pull {data_dir}/ (md5 {expected}) from {remote}: {pull_error}; {dvc_file.name} does "
            f"not describe regenerable demo data, so the data must come from a remote that has it "
            f"(configure one with `dvc remote add -d ...`)"
        )
    _regenerate_and_verify(repo_root, data_dir, DemoOptions.model_validate(recorded), expected)
    push_pointer(repo_root, dvc_file)
    return DataStatus("regenerated", expected, data_path, remote)


def _try_pull(repo_root: Path, dvc_file: Path) -> str | None:
    from dvc.exceptions import DvcException

    try:
        with open_repo(repo_root) as repo:
            repo.pull(targets=[str(dvc_file)])
    except DvcException as error:
        logger.info("dvc pull failed: %s", error)
        return str(error).splitlines()[0] if str(error) else type(error).__name__
    return None


def _regenerate_and_verify(repo_root: Path, data_dir: str, options: DemoOptions, expected: str) -> None:
    data_path, dvc_file = repo_root / data_dir, repo_root / f"{data_dir}.dvc"
    pointer = dvc_file.read_text(encoding="utf-8")
    shutil.rmtree(data_path, ignore_errors=True)  # a failed pull may leave a partial checkout
    logger.info("remote lacks %s/; regenerating the demo data recorded in %s", data_dir, dvc_file.name)
    generate_demo_data(data_path, options, overwrite=True)
    try:
        with open_repo(repo_root) as repo:
            repo.add(str(data_path))
        actual = read_dvc_md5(dvc_file)
    finally:
        dvc_file.write_text(pointer, encoding="utf-8")  # the committed pointer stays byte-identical
    if actual != expected:
        shutil.rmtree(data_path, ignore_errors=True)
        raise DataVersionError(
            f"regenerated demo data has md5 {actual}, but {dvc_file.name} names {expected}: the pointer "
            f"no longer describes pure demo data (or this platform writes different bytes); fetch the data "
            f"from a remote that has it"
        )
