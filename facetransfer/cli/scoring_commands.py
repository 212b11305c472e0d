"""Scoring commands: ``predict`` (files, folders) and ``serve`` (review page + JSON API)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from facetransfer.cli.command_options import ROOT_OPTION
from facetransfer.registry.client import CHAMPION, DETECTOR_MODEL

logger = logging.getLogger(__name__)


@click.command("predict")
@click.argument("inputs", nargs=-1, required=True)
@ROOT_OPTION
@click.option("--model", "model_name", default=DETECTOR_MODEL, show_default=True)
@click.option("--alias", default=CHAMPION, show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="scores.csv or scores.parquet (default: CSV on stdout).",
)
@click.option(
    "--explain",
    "explain_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for each image's region explanation (overlay PNG) and regions.csv.",
)
@click.option("--strict", is_flag=True, help="Exit non-zero if any image could not be scored.")
@click.option(
    "--faces",
    type=click.Choice(["auto", "align", "off"]),
    default="auto",
    show_default=True,
    help="auto: score a face crop as it is and cut larger pictures into aligned faces; "
    "align: always cut faces (no face is an error row); off: score whole pictures.",
)
@click.option(
    "--plots",
    "plots_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a score-over-time plot per face track of each video to this folder.",
)
def predict_command(
    inputs: tuple[str, ...],
    root: Path,
    model_name: str,
    alias: str,
    output: Path | None,
    explain_dir: Path | None,
    strict: bool,
    faces: str,
    plots_dir: Path | None,
) -> None:
    """Score images (files or folders) with the registered detector: fake probability and decision.

    Images that cannot be read get a row with an `error` and a warning; the exit code is non-zero
    only when no image could be scored (or, with --strict, when any could not).
    """
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import ErrorCode

    from facetransfer.registry.client import RegistryUnavailableError
    from facetransfer.scoring.predict import (
        collect_images,
        ensure_writable_folder,
        input_verdicts,
        score_images,
        write_scores,
        write_track_plots,
    )
    from facetransfer.tracking.store import resolve_tracking_uri

    if output is not None and output.suffix.lower() not in (".csv", ".parquet"):
        raise click.BadParameter(f"{output}: use a .csv or .parquet file name", param_hint="--output")
    # Output folders are created (or refused) before the first image is scored, not after the last.
    folders = {
        "--output": output.parent if output is not None else None,
        "--explain": explain_dir,
        "--plots": plots_dir,
    }
    for option, folder in folders.items():
        if folder is not None:
            try:
                ensure_writable_folder(folder)
            except OSError as error:
                raise click.BadParameter(str(error), param_hint=option) from error
    try:
        images = collect_images(inputs)
        frame = score_images(
            images,
            model_name=model_name,
            alias=alias,
            tracking_uri=resolve_tracking_uri(root.resolve()),
            explain_dir=explain_dir,
            faces=faces,
        )
        if plots_dir is not None:
            written = write_track_plots(frame, plots_dir)
            click.echo(f"{len(written)} track plots in {plots_dir}", err=True)
    except (FileNotFoundError, LookupError, OSError, ValueError, RegistryUnavailableError) as error:
        raise click.ClickException(str(error)) from error
    except MlflowException as error:  # the model refused the request (e.g. --explain without a face parser)
        if error.error_code != ErrorCode.Name(ErrorCode.INVALID_PARAMETER_VALUE):
            raise  # the model failed: a bug to report, with its traceback
        raise click.ClickException(error.message) from error
    failed = frame[frame["error"].notna()]
    for row in failed.itertuples(index=False):
        click.echo(f"warning: {row.error}", err=True)
    if output is None:
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        try:
            write_scores(frame, output)
        except OSError as error:  # checked before scoring; a full disk can still fail: keep the work
            click.echo(frame.to_csv(index=False), nl=False)
            raise click.ClickException(
                f"cannot write {output}: {error}; the scores went to standard output instead"
            ) from error
        click.echo(f"wrote {len(frame)} predictions to {output}")
    if explain_dir is not None:
        click.echo(f"explanations in {explain_dir}", err=True)
    for verdict in input_verdicts(frame):
        click.echo(verdict, err=True)
    if len(failed):
        # an error row stands for its whole input (an image or a video): count inputs, not rows
        inputs_failed, inputs_total = failed["path"].nunique(), frame["path"].nunique()
        summary = f"{inputs_failed} of {inputs_total} images could not be scored (see the error column)"
        if inputs_failed == inputs_total or strict:
            raise click.ClickException(f"{summary}; first: {failed['error'].iloc[0]}")
        click.echo(summary, err=True)


@click.command("serve")
@ROOT_OPTION
@click.option("--model", "model_name", default=DETECTOR_MODEL, show_default=True)
@click.option("--alias", default=CHAMPION, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (local only by default)."
)
@click.option("--port", default=8000, show_default=True)
@click.option("--max-upload-mb", default=10.0, show_default=True, help="Largest accepted image file.")
@click.option("--max-files", default=32, show_default=True, help="Most images per request.")
@click.option(
    "--max-request-megapixels",
    default=256.0,
    show_default=True,
    help="Most pixels per request, summed over its images' headers before any is decoded (413 beyond).",
)
def serve_command(
    root: Path,
    model_name: str,
    alias: str,
    host: str,
    port: int,
    max_upload_mb: float,
    max_files: int,
    max_request_megapixels: float,
) -> None:
    """Review page and JSON API: drop images, see score, decision and region overlay."""
    from facetransfer.registry.client import RegistryUnavailableError
    from facetransfer.scoring.app import UploadLimits, serve
    from facetransfer.scoring.predict import load_scoring_model
    from facetransfer.tracking.store import resolve_tracking_uri

    try:
        model = load_scoring_model(model_name, alias, resolve_tracking_uri(root.resolve()))
    except (LookupError, OSError, ValueError, RegistryUnavailableError) as error:
        raise click.ClickException(str(error)) from error
    limits = UploadLimits(
        max_upload_bytes=int(max_upload_mb * 1024 * 1024),
        max_files=max_files,
        max_request_pixels=int(max_request_megapixels * 1_000_000),
    )
    click.echo(f"review page on http://{host}:{port}/ ({model_name}@{alias})")
    serve(model, host=host, port=port, limits=limits)


def scoring_commands() -> list[click.Command]:
    """Commands this module contributes to the ``facetransfer`` CLI."""
    return [predict_command, serve_command]
