"""CLI commands of the data layer (attached to ``facetransfer`` by ``facetransfer.cli``).

Heavy imports (numpy, Pillow, DVC) happen inside the commands so ``facetransfer --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

import click

from facetransfer.cli.command_options import ROOT_OPTION


@click.command("demo-data")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data"),
    show_default=True,
    help="Output folder (segmentation/ and detection/ are written inside).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed; same options give identical files."
)
@click.option("--size", "image_size", type=int, default=64, show_default=True, help="Image side in pixels.")
@click.option("--segmentation-images", type=int, default=384, show_default=True, help="Mut1ny-format pairs.")
@click.option("--real-images", type=int, default=192, show_default=True, help="Images per real folder.")
@click.option("--fake-images", type=int, default=128, show_default=True, help="Images per generator folder.")
@click.option(
    "--generators",
    default="tconv,nearest_conv,bilinear_conv",
    show_default=True,
    help="Comma-separated generator families (also: pixel_shuffle).",
)
@click.option(
    "--strength",
    "artifact_strength",
    type=float,
    default=1.0,
    show_default=True,
    help="Scale of the generator artefacts (0: generated = real).",
)
@click.option("--images-per-identity", type=int, default=2, show_default=True, help="Pictures per person.")
@click.option(
    "--only-generator",
    default=None,
    help="Write only this generator family's images into --out (e.g. a new generator for add-generator).",
)
@click.option(
    "--layout",
    type=click.Choice(["artifact", "folder"]),
    default="artifact",
    show_default=True,
    help="With --only-generator: ArtiFact folder (metadata.csv) or plain folder of PNGs.",
)
@click.option("--force", is_flag=True, help="Replace existing output folders.")
def demo_data_command(
    out_dir: Path,
    seed: int,
    image_size: int,
    segmentation_images: int,
    real_images: int,
    fake_images: int,
    generators: str,
    artifact_strength: float,
    images_per_identity: int,
    only_generator: str | None,
    layout: str,
    force: bool,
) -> None:
    """Write the deterministic demo dataset (Mut1ny tree + ArtiFact root) in the real formats."""
    from facetransfer.demo import DemoOptions, generate_demo_data, write_generator_folder
    from facetransfer.ingestion.errors import DataLayerError

    try:
        options = DemoOptions(
            seed=seed,
            image_size=image_size,
            segmentation_images=segmentation_images,
            real_images={"ffhq": real_images, "celebahq": real_images},
            generators=tuple(name.strip() for name in generators.split(",") if name.strip()),
            fake_images_per_generator=fake_images,
            images_per_identity=images_per_identity,
            artifact_strength=artifact_strength,
        )
        if only_generator:
            summary = write_generator_folder(
                out_dir,
                only_generator,
                count=fake_images,
                layout=layout,  # type: ignore[arg-type]  # click.Choice restricts it to the Literal
                overwrite=force,
                options=options,
            )
        else:
            summary = generate_demo_data(out_dir, options, overwrite=force)
    except (DataLayerError, ValueError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(summary.describe())
    click.echo(f"{summary.images_per_second:.0f} images/s")


@click.command("add-generator")
@click.argument("name")
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
@ROOT_OPTION
@click.option("--data-dir", default="data", show_default=True, help="DVC-tracked data folder.")
@click.option("--overwrite", is_flag=True, help="Replace an existing generator of that name.")
@click.option("--no-push", is_flag=True, help="Run dvc add but not dvc push.")
def add_generator_command(
    name: str, src: Path, root: Path, data_dir: str, overwrite: bool, no_push: bool
) -> None:
    """Copy a new generator's images (plain or ArtiFact folder) into the data, then dvc add + push.

    A folder holding real images (``real/<source>/``, an ArtiFact root with ``ffhq/``) is refused;
    one holding only ``fake/`` is taken. Images are staged outside ``data/`` and swapped in whole.
    """
    from facetransfer.ingestion.add_generator import add_generator
    from facetransfer.ingestion.errors import DataLayerError
    from facetransfer.locks import LockBusyError

    try:
        report = add_generator(
            name, src, repo_root=root, data_dir=data_dir, overwrite=overwrite, push=not no_push
        )
    except LockBusyError as error:
        raise click.ClickException(f"another add-generator is running in {root}: {error}") from error
    except (DataLayerError, ValueError, FileNotFoundError) as error:
        raise click.ClickException(str(error)) from error
    click.echo(report.describe())
    click.echo(
        f"commit the new pointer: git add {data_dir}.dvc && git commit -m 'data: add generator {name}'"
    )


@click.command("ensure-data")
@ROOT_OPTION
@click.option("--data-dir", default="data", show_default=True, help="DVC-tracked data folder.")
@click.option(
    "--remote", default=None, help="Default DVC remote URL (else the configured or the user-cache one)."
)
def ensure_data_command(root: Path, data_dir: str, remote: str | None) -> None:
    """Make data/ present: pull it, or regenerate the demo data data.dvc names (and push it)."""
    from facetransfer.demo.provision import ensure_data
    from facetransfer.ingestion.errors import DataLayerError

    try:
        status = ensure_data(root, data_dir=data_dir, remote_url=remote)
    except DataLayerError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"{data_dir}/: {status.action} (md5 {status.md5}, remote {status.remote})")


def data_commands() -> list[click.Command]:
    """Commands this module contributes to the ``facetransfer`` CLI."""
    return [demo_data_command, add_generator_command, ensure_data_command]
