"""``add-generator`` and the other data CLI commands, in temporary git + DVC repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from tree_builders import (
    TINY_DEMO,
    make_artifact_folder,
    random_image,
    write_corrupt_png,
    write_metadata,
    write_png,
)

from facetransfer.cli import main
from facetransfer.demo import write_generator_folder
from facetransfer.demo.provision import ensure_data
from facetransfer.ingestion.add_generator import add_generator
from facetransfer.ingestion.errors import GeneratorExistsError
from facetransfer.ingestion.manifest import build_manifest
from facetransfer.ingestion.versioning import read_dvc_md5, read_dvc_meta

ARTIFACT_ROOT = {
    "name": "artifact",
    "format": "artifact",
    "path": "data/detection",
    "real": ["ffhq", "celebahq"],
}


def test_add_generator_copies_valid_images_tracks_and_pushes(git_repo: Path, tmp_path: Path) -> None:
    ensure_data(git_repo, demo_options=TINY_DEMO)
    old_md5 = read_dvc_md5(git_repo / "data.dvc")
    source = tmp_path / "incoming"
    write_generator_folder(source, "pixel_shuffle", count=5, image_size=32)
    write_corrupt_png(source / "images" / "broken.png")
    listed = [line.split(",")[0] for line in (source / "metadata.csv").read_text().splitlines()[1:]]
    write_metadata(source, [(path, 1) for path in [*listed, "images/broken.png"]])

    report = add_generator("pixel_shuffle", source, repo_root=git_repo)

    assert report.files_added == 5 and report.pushed and not report.replaced
    assert [entry.check.value for entry in report.quarantined] == ["corrupt_image"]
    assert report.old_md5 == old_md5 and report.new_md5 == read_dvc_md5(git_repo / "data.dvc") != old_md5
    meta = read_dvc_meta(git_repo / "data.dvc")
    assert "demo_options" not in meta and meta["generators_added"] == ["pixel_shuffle"]
    manifest = build_manifest([ARTIFACT_ROOT], root=git_repo).manifest
    added = manifest[manifest["generator"] == "pixel_shuffle"]
    assert len(added) == 5 and set(added["label"]) == {1}
    assert "pixel_shuffle" in report.describe() and old_md5 in report.describe()
    with pytest.raises(GeneratorExistsError, match="--overwrite"):
        add_generator("pixel_shuffle", source, repo_root=git_repo)


def test_cli_add_generator_replaces_from_a_plain_folder(git_repo: Path, tmp_path: Path) -> None:
    ensure_data(git_repo, demo_options=TINY_DEMO)
    runner = CliRunner()
    plain = tmp_path / "plain"
    demo = ["demo-data", "--out", str(plain), "--only-generator", "tconv", "--layout", "folder"]
    result = runner.invoke(main, [*demo, "--fake-images", "3", "--size", "32"])
    assert result.exit_code == 0, result.output
    args = ["add-generator", "tconv", str(plain), "--repo-root", str(git_repo), "--no-push"]
    refused = runner.invoke(main, args)
    assert refused.exit_code != 0 and "already exists" in refused.output
    replaced = runner.invoke(main, [*args, "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert "3 images (0.0 MB) replaced" in replaced.output and "->" in replaced.output
    tconv = git_repo / "data" / "detection" / "tconv"
    assert sorted(p.name for p in (tconv / "images").iterdir()) == [
        "id00000_0.png",
        "id00000_1.png",
        "id00001_0.png",
    ]
    assert (
        (tconv / "metadata.csv").read_text().startswith("image_path,target,category\nimages/id00000_0.png,1,")
    )


def test_add_generator_never_relabels_real_rows_nor_copies_links_to_outside(
    git_repo: Path, tmp_path: Path
) -> None:
    ensure_data(git_repo, demo_options=TINY_DEMO)
    source = tmp_path / "incoming"
    make_artifact_folder(source, 3, target=1, seed=4)
    write_png(tmp_path / "private" / "me.png", random_image(8))
    (source / "images" / "link.png").symlink_to(tmp_path / "private" / "me.png")
    rows = [("images/000.png", 1), ("images/001.png", 0), ("images/002.png", 1), ("images/link.png", 1)]
    write_metadata(source, rows)
    args = ["add-generator", "newgan", str(source), "--repo-root", str(git_repo), "--no-push"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "2 images (0.0 MB) added" in result.output
    assert (
        "001.png: target_mismatch: metadata.csv line 3: target 0 marks 'images/001.png' real" in result.output
    )
    assert "link.png: path_escapes_root: symbolic link to" in result.output
    added = git_repo / "data" / "detection" / "newgan"
    assert sorted(p.name for p in (added / "images").iterdir()) == ["000.png", "002.png"]
    assert (added / "metadata.csv").read_text().splitlines()[1:] == [
        "images/000.png,1,human_faces",
        "images/002.png,1,human_faces",
    ]


def test_invalid_or_reserved_generator_names_are_refused(tmp_path: Path) -> None:
    for name in ("ffhq", "Bad Name", "../up"):
        with pytest.raises(ValueError, match="invalid generator name"):
            add_generator(name, tmp_path, repo_root=tmp_path)


def test_cli_demo_data_writes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["demo-data", "--out", str(tmp_path / "d"), "--size", "32", "--segmentation-images", "4",
            "--real-images", "2", "--fake-images", "2"]  # fmt: skip
    first = runner.invoke(main, args)
    assert first.exit_code == 0, first.output
    assert "mean |real - generated| for tconv" in first.output and "segmentation: 4 images" in first.output
    again = runner.invoke(main, args)
    assert again.exit_code != 0 and "--force" in again.output
    assert runner.invoke(main, [*args, "--force"]).exit_code == 0


# ------------------------------------------------------------------ atomicity (issue 18, item 7) ---


def _detection(repo: Path) -> Path:
    return repo / "data" / "detection"


@pytest.mark.parametrize(
    "where", ["data/detection/.oldgan.incoming", ".local/add-generator/.oldgan.incoming"]
)
def test_staging_folder_of_a_killed_run_is_removed_not_versioned(
    git_repo: Path, tmp_path: Path, where: str
) -> None:
    leftover = git_repo / where
    write_png(leftover / "images" / "half.png", random_image(3))
    source = tmp_path / "incoming"
    make_artifact_folder(source, 2, target=1, seed=5)

    report = add_generator("newgan", source, repo_root=git_repo, push=False)

    assert not leftover.exists()
    assert f"removed {leftover}" in report.describe() and "interrupted" in report.describe()
    assert sorted(p.name for p in _detection(git_repo).iterdir()) == ["newgan"]
    assert report.files_added == 2


def test_a_failed_run_leaves_no_staging_folder_and_no_generator(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facetransfer.imaging.checks import FileFacts
    from facetransfer.ingestion.inspection import Inspector

    source = tmp_path / "incoming"
    make_artifact_folder(source, 3, target=1, seed=6)
    checked: list[Path] = []
    real_image_facts = Inspector.image_facts

    def fail_on_the_second_image(self: Inspector, path: Path) -> FileFacts:
        checked.append(path)
        if len(checked) == 2:
            raise OSError("disk full")
        return real_image_facts(self, path)

    monkeypatch.setattr(Inspector, "image_facts", fail_on_the_second_image)
    with pytest.raises(OSError, match="disk full"):
        add_generator("newgan", source, repo_root=git_repo, push=False)

    assert not (git_repo / "data").exists() or not any(_detection(git_repo).iterdir())
    local = git_repo / ".local" / "add-generator"
    assert not local.exists() or not any(p.name.endswith(".incoming") for p in local.iterdir())


def test_the_bytes_checked_are_the_bytes_copied(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facetransfer.imaging.checks import FileFacts
    from facetransfer.ingestion.inspection import Inspector

    source = tmp_path / "incoming"
    (image,) = make_artifact_folder(source, 1, target=1, seed=7)
    checked_bytes = image.read_bytes()
    real_image_facts = Inspector.image_facts

    def replace_source_after_the_check(self: Inspector, path: Path) -> FileFacts:
        facts = real_image_facts(self, path)
        image.write_bytes(b"not an image any more")  # swapped between the check and the copy
        return facts

    monkeypatch.setattr(Inspector, "image_facts", replace_source_after_the_check)
    report = add_generator("newgan", source, repo_root=git_repo, push=False)

    assert report.files_added == 1
    assert (_detection(git_repo) / "newgan" / "images" / "000.png").read_bytes() == checked_bytes


def test_overwrite_keeps_the_previous_generator_when_the_run_fails(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import facetransfer.ingestion.versioning as versioning

    first = tmp_path / "first"
    make_artifact_folder(first, 2, target=1, seed=8)
    add_generator("newgan", first, repo_root=git_repo, push=False)
    second = tmp_path / "second"
    make_artifact_folder(second, 3, target=1, seed=9)

    def dvc_fails(*args: object, **kwargs: object) -> None:
        raise RuntimeError("dvc add failed")

    monkeypatch.setattr(versioning, "track_data", dvc_fails)
    with pytest.raises(RuntimeError, match="dvc add failed"):
        add_generator("newgan", second, repo_root=git_repo, overwrite=True, push=False)

    kept = _detection(git_repo) / "newgan"
    assert sorted(p.name for p in (kept / "images").iterdir()) == ["000.png", "001.png"]
    assert sorted(p.name for p in _detection(git_repo).iterdir()) == ["newgan"]


def test_a_second_add_generator_while_one_runs_is_refused_clearly(git_repo: Path, tmp_path: Path) -> None:
    from facetransfer.ingestion.add_generator import LOCK_FILE
    from facetransfer.locks import exclusive_lock

    source = tmp_path / "incoming"
    make_artifact_folder(source, 1, target=1, seed=10)
    args = ["add-generator", "newgan", str(source), "--repo-root", str(git_repo), "--no-push"]
    with exclusive_lock(git_repo / LOCK_FILE):
        result = CliRunner().invoke(main, args)

    assert result.exit_code != 0 and "another add-generator is running" in result.output
    assert not (git_repo / "data" / "detection" / "newgan").exists()
