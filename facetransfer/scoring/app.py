"""``facetransfer serve``: a local review page and its JSON API over the registered serving model.

Reviewers drop or choose images on the page and see each one's fake probability, decision,
threshold, model version and region overlay. The page calls the JSON API, which scores through the
same MLflow pyfunc model as ``facetransfer predict`` and ``mlflow models serve``, so all of them
give the same score for the same file.

Endpoints:

* ``GET /``: the page;
* ``GET /api/model``: the model version, threshold, and the upload limits;
* ``POST /api/score?explain=true|false``: multipart upload of one or more files (field ``files``);
  answers ``{"model_version", "threshold", "results": [{"name", "fake_probability",
  "prediction", "threshold", "model_version", "error", "regions", "explanation_png"}]}``;
* ``GET /healthz``.

Uploads are checked before scoring: at most ``max_files`` files of at most ``max_upload_bytes``
each, whose image headers declare at most ``max_request_pixels`` pixels in all (413 otherwise,
decided on the headers before any pixel is decoded). A file of another type than PNG, JPEG, WebP
or a video gets a result with ``error`` set and the others are scored (415 only when no file of
the request can be scored). A file that passes these checks but cannot be decoded gets a result
with ``error`` set too, as in every other scoring path. Missing numbers are JSON ``null``.

Requests are decoded and prepared in parallel (FastAPI's thread pool); only the model's forward
passes take turns (``ImageScorer``), so a large request does not hold up a small one.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations at
# runtime, and the fastapi types are imported inside ``create_app`` (lazy, like every heavy import).
import json
import logging
from dataclasses import dataclass
from typing import Any

import pandas as pd

from facetransfer.imaging.checks import read_image_header
from facetransfer.jsonable import to_jsonable
from facetransfer.scoring.page import PAGE

logger = logging.getLogger(__name__)

IMAGE_TYPES = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}
VIDEO_TYPES = {
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "video/x-msvideo": ".avi",
}
ACCEPTED_TYPES = {**IMAGE_TYPES, **VIDEO_TYPES}
DEFAULT_MAX_UPLOAD_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILES = 32
DEFAULT_MAX_REQUEST_PIXELS = 256_000_000
"""Two images of the largest size decoding allows (``imaging.checks.DEFAULT_MAX_IMAGE_PIXELS``,
89 Mpx), or 32 photos of 8 Mpx: a few seconds of decoding."""


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may be: file size, number of files, pixels of all its images together."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_files: int = DEFAULT_MAX_FILES
    max_request_pixels: int = DEFAULT_MAX_REQUEST_PIXELS


def result_records(names: list[str], scored: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows, one per face (or per upload scored whole), in upload order: the file name,
    the score columns, and ``regions``, ``box``, ``landmarks`` and ``track_scores`` as JSON values."""
    records = []
    for row in scored.to_dict(orient="records"):
        name = names[int(row["input_index"])]
        record = {"name": name, **to_jsonable(row)}
        for column in ("box", "landmarks", "track_scores"):
            if record.get(column) is not None:
                record[column] = json.loads(record[column])
        if record.get("error"):
            # Uploaded bytes have no path: name the file the reviewer chose.
            record["error"] = f"{name}: {record['error']}"
        if record.get("regions") is not None:
            record["regions"] = json.loads(record["regions"])
        records.append(record)
    return records


def refused_record(name: str, index: int, problem: str, columns: list[str], scorer: Any) -> dict[str, Any]:
    """The result of an upload that was not scored: every column of a scored row, ``error`` set."""
    return {
        "name": name,
        **dict.fromkeys(columns),
        "input_index": index,
        "face_found": False,
        "threshold": scorer.threshold,
        "model_version": scorer.model_version,
        "error": f"{name}: {problem}",
    }


def declared_pixels(contents: list[bytes]) -> int:
    """Pixels that the images' headers declare, summed; nothing is decoded.

    A file whose header cannot be read (a video, a damaged image) counts 0: a video is sampled
    frame by frame under its own limits, and a damaged image becomes an error row undecoded.
    """
    total = 0
    for data in contents:
        try:
            total += read_image_header(data).pixels
        except (OSError, SyntaxError, ValueError):
            continue
    return total


def create_app(model: Any, *, limits: UploadLimits = UploadLimits()) -> Any:
    """The FastAPI application serving ``model`` (an MLflow pyfunc serving model)."""
    from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
    from fastapi.responses import HTMLResponse, JSONResponse

    served = model.unwrap_python_model()
    scorer = served.scorer
    app = FastAPI(title="facetransfer review", docs_url="/api/docs", redoc_url=None)

    @app.middleware("http")
    async def refuse_large_bodies(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length is not None and int(length) > limits.max_upload_bytes * limits.max_files + 65536:
            return JSONResponse({"detail": f"request body of {length} bytes is too large"}, status_code=413)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/model")
    def model_info() -> dict[str, Any]:
        return {
            "model_version": scorer.model_version,
            "threshold": scorer.threshold,
            "explains": scorer.explainer is not None,
            "image_size": scorer.preprocessing.image_size,
            "input_mode": scorer.preprocessing.input_mode,
            "max_upload_bytes": limits.max_upload_bytes,
            "max_files": limits.max_files,
            "max_request_pixels": limits.max_request_pixels,
            "content_types": sorted(ACCEPTED_TYPES),
        }

    @app.post("/api/score")
    def score(
        files: list[UploadFile] = File(...),  # noqa: B008 - FastAPI's declaration style
        explain: bool = Query(True),
        faces: str = Query("auto", pattern="^(auto|align|off)$"),
    ) -> dict[str, Any]:
        if len(files) > limits.max_files:
            raise HTTPException(413, f"{len(files)} files: at most {limits.max_files} per request")
        names = [upload.filename or "upload" for upload in files]
        scorable, contents, refused = [], [], {}
        for index, upload in enumerate(files):
            if upload.content_type not in ACCEPTED_TYPES:
                types = ", ".join(sorted(ACCEPTED_TYPES))
                refused[index] = f"type {upload.content_type!r} is not one of {types}"
                continue
            data = upload.file.read(limits.max_upload_bytes + 1)
            if len(data) > limits.max_upload_bytes:
                raise HTTPException(413, f"{names[index]}: larger than {limits.max_upload_bytes} bytes")
            scorable.append(index)
            contents.append(data)
        if not scorable:
            index, problem = next(iter(refused.items()))
            raise HTTPException(415, f"no file to score: {names[index]}: {problem}")
        pixels = declared_pixels(contents)
        if pixels > limits.max_request_pixels:
            raise HTTPException(
                413,
                f"the images of this request declare {pixels} pixels in all; at most "
                f"{limits.max_request_pixels} per request (--max-request-megapixels): send fewer at a time",
            )
        # No lock here: decoding runs in parallel with other requests; the scorer serialises only
        # the forward passes.
        scored = model.predict(
            pd.DataFrame({"image": pd.Series(contents, dtype=object)}),
            params={"explain": bool(explain and scorer.explainer is not None), "faces": faces},
        )
        scored["input_index"] = [scorable[position] for position in scored["input_index"]]
        records = result_records(names, scored) + [
            refused_record(names[index], index, problem, list(scored.columns), scorer)
            for index, problem in refused.items()
        ]
        return {
            "model_version": scorer.model_version,
            "threshold": scorer.threshold,
            "results": sorted(records, key=lambda record: record["input_index"]),
        }

    return app


def serve(model: Any, *, host: str, port: int, limits: UploadLimits) -> None:
    """Run the app with uvicorn (one worker) until interrupted."""
    import uvicorn

    uvicorn.run(create_app(model, limits=limits), host=host, port=port, workers=1, log_level="info")
