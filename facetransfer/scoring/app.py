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
each (413 otherwise), of an image type (PNG, JPEG, WebP; 415 otherwise). A file that passes these
checks but cannot be decoded gets a result with ``error`` set, as in every other scoring path.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoint annotations at
# runtime, and the fastapi types are imported inside ``create_app`` (lazy, like every heavy import).
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import pandas as pd

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


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may be: file size, number of files, content types."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_files: int = DEFAULT_MAX_FILES


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


def create_app(model: Any, *, limits: UploadLimits = UploadLimits()) -> Any:
    """The FastAPI application serving ``model`` (an MLflow pyfunc serving model)."""
    from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
    from fastapi.responses import HTMLResponse, JSONResponse

    served = model.unwrap_python_model()
    scorer = served.scorer
    lock = threading.Lock()  # one scoring at a time: predictable memory on a small machine
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
        names, contents = [], []
        for upload in files:
            name = upload.filename or "upload"
            if upload.content_type not in ACCEPTED_TYPES:
                raise HTTPException(
                    415,
                    f"{name}: type {upload.content_type!r} is not one of {', '.join(sorted(ACCEPTED_TYPES))}",
                )
            data = upload.file.read(limits.max_upload_bytes + 1)
            if len(data) > limits.max_upload_bytes:
                raise HTTPException(413, f"{name}: larger than {limits.max_upload_bytes} bytes")
            names.append(name)
            contents.append(data)
        frame = pd.DataFrame({"image": pd.Series(contents, dtype=object)})
        with lock:
            scored = model.predict(
                frame, params={"explain": bool(explain and scorer.explainer is not None), "faces": faces}
            )
        return {
            "model_version": scorer.model_version,
            "threshold": scorer.threshold,
            "results": result_records(names, scored),
        }

    return app


def serve(model: Any, *, host: str, port: int, limits: UploadLimits) -> None:
    """Run the app with uvicorn (one worker) until interrupted."""
    import uvicorn

    uvicorn.run(create_app(model, limits=limits), host=host, port=port, workers=1, log_level="info")
