"""The serving model against a real MLflow registry (SQLite): no pickle, images in, scores out, HTTP.

The models are untrained (random weights): these tests check the scoring path, not model quality.
"""

from __future__ import annotations

import base64
import io
import pickle
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from click.testing import CliRunner
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image

from facetransfer.cli import main
from facetransfer.evaluation import predict_scores
from facetransfer.inputs.preprocessing import Preprocessing
from facetransfer.models import DeepLabV3PlusDetector, build_segmenter
from facetransfer.models.weights import WeightsError, load_weights, log_weights, save_weights
from facetransfer.registry.client import register_run_model
from facetransfer.tracking.store import ensure_experiment
from facetransfer.workflow.registration import log_detector_serving_model

BACKBONE = "mobilenet_v3_large"
PICKLE_EVENTS: list[tuple] = []


def _record_unpickling(event: str, args: tuple) -> None:
    # Python's unpickler raises this audit event for every global it resolves.
    if event == "pickle.find_class":
        PICKLE_EVENTS.append(args)


sys.addaudithook(_record_unpickling)


def png_bytes(seed: int, size: tuple[int, int] = (80, 72)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowClient]:
    """A store holding ``deepfake-detector`` v1 (alias champion) with its ``face-segmenter`` v1."""
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(experiment_id=ensure_experiment(uri, root))
        client = MlflowClient(uri)
        preprocessing = Preprocessing.for_backbone(BACKBONE, 64)
        with mlflow.start_run() as segmenter_run:
            segmenter_uri = log_weights(build_segmenter(BACKBONE), image_size=64, scheme="mut1ny14")
        with mlflow.start_run() as detector_run:
            detector_uri = log_weights(DeepLabV3PlusDetector(BACKBONE, "none"), image_size=64)
        segmenter_version = register_run_model(
            client, name="face-segmenter", run_id=segmenter_run.info.run_id, model_uri=segmenter_uri
        )
        report = {
            "run_id": detector_run.info.run_id,
            "model_uri": detector_uri,
            "threshold": 0.25,
            "preprocessing": preprocessing.to_dict(),
            "backbone": BACKBONE,
            "image_size": 64,
        }
        model_uri = log_detector_serving_model(
            report, {"model_uri": segmenter_uri}, "deepfake-detector", segmenter_version.version
        )
        version = register_run_model(
            client, name="deepfake-detector", run_id=detector_run.info.run_id, model_uri=model_uri
        )
        client.set_registered_model_alias("deepfake-detector", "champion", version.version)
        yield client
        mlflow.set_tracking_uri("")


@pytest.fixture(scope="module")
def served(registry: MlflowClient):
    return mlflow.pyfunc.load_model("models:/deepfake-detector@champion")


def test_weights_round_trip_and_refuse_what_does_not_fit(tmp_path: Path) -> None:
    model = DeepLabV3PlusDetector(BACKBONE, "last").eval()
    folder = save_weights(model, tmp_path / "weights")
    loaded = load_weights(folder, kind="detector")
    example = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    import torch

    with torch.no_grad():
        assert torch.equal(model(torch.from_numpy(example)), loaded(torch.from_numpy(example)))
    with pytest.raises(WeightsError, match="holds a detector, expected a segmenter"):
        load_weights(folder, kind="segmenter")
    (folder / "architecture.json").write_text(
        '{"kind": "detector", "backbone": "resnet50", "variant": "none"}'
    )
    with pytest.raises(WeightsError, match="does not fit"):
        load_weights(folder)


def test_serving_model_loads_and_scores_without_unpickling(registry: MlflowClient, tmp_path: Path) -> None:
    pickle.loads(pickle.dumps(Path("x")))  # the hook sees real unpickling ...
    assert PICKLE_EVENTS, "the audit hook must record pickle.find_class"
    PICKLE_EVENTS.clear()
    model = mlflow.pyfunc.load_model("models:/deepfake-detector@champion")
    good = tmp_path / "good.png"
    good.write_bytes(png_bytes(1))
    scored = model.predict(pd.DataFrame({"path": [str(good)]}), params={"explain": True})
    assert PICKLE_EVENTS == [], "... and nothing in loading or scoring the serving model unpickles"

    row = scored.iloc[0]
    assert row["model_version"] == "deepfake-detector/1" and row["threshold"] == 0.25
    assert row["error"] is None and row["prediction"] == (
        "fake" if row["fake_probability"] >= 0.25 else "real"
    )
    # The same number as evaluation's scoring of the same file with the same weights.
    detector = model.unwrap_python_model().scorer.detector
    expected = predict_scores(
        detector, pd.DataFrame({"path": [str(good)]}), preprocessing=Preprocessing.for_backbone(BACKBONE, 64)
    )
    assert row["fake_probability"] == pytest.approx(expected[0], abs=1e-6)
    assert set(pd.read_json(io.StringIO(f"[{row['regions']}]")).columns) <= {
        "eyes", "brows", "nose", "lips", "teeth", "ears", "hair", "skin", "background", "glasses", "beard",
    }  # fmt: skip
    assert base64.b64decode(row["explanation_png"]).startswith(b"\x89PNG")


def test_bad_images_get_error_rows_and_bad_requests_are_refused(served) -> None:
    image = png_bytes(2)
    frame = pd.DataFrame(
        {"image": pd.Series([image, b"not an image", base64.b64encode(image).decode(), None], dtype=object)}
    )
    scored = served.predict(frame)
    assert scored["error"].iloc[0] is None and scored["error"].iloc[2] is None
    assert scored["fake_probability"].iloc[0] == scored["fake_probability"].iloc[2], "bytes or base64: same"
    assert "not a readable image" in scored["error"].iloc[1] and np.isnan(scored["fake_probability"].iloc[1])
    assert scored["error"].iloc[3] and scored["prediction"].iloc[3] is None
    assert served.predict(pd.DataFrame({"path": pd.Series([], dtype=str)})).empty
    with pytest.raises(MlflowException, match="exactly one of the columns"):
        served.predict(pd.DataFrame({"path": ["a.png"], "image": [image]}))


def test_predict_command_writes_scores_and_explanations(registry: MlflowClient, tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(png_bytes(3))
    (folder / "b.png").write_bytes(b"broken")
    runner = CliRunner()
    output = tmp_path / "scores.parquet"
    result = runner.invoke(
        main, ["predict", str(folder), "--output", str(output), "--explain", str(tmp_path / "why")]
    )
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(output)
    assert list(scores.columns) == [
        "path", "input_index", "face_index", "face_found", "box", "landmarks", "detector_confidence",
        "fake_probability", "prediction", "threshold", "model_version", "error",
        "image_fake_probability", "image_prediction", "frames", "track_scores", "explanation",
    ]  # fmt: skip
    broken = scores.set_index(scores["path"].map(lambda p: Path(p).name)).loc["b.png"]
    assert "b.png" in broken["error"] and pd.isna(broken["explanation"])
    regions = pd.read_csv(tmp_path / "why" / "regions.csv")
    assert set(regions["path"].map(lambda p: Path(p).name)) == {"a.png"}
    assert Path(scores["explanation"].dropna().iloc[0]).read_bytes().startswith(b"\x89PNG")

    strict = runner.invoke(main, ["predict", str(folder), "--strict"])
    assert strict.exit_code != 0 and "1 of 2 images could not be scored" in strict.output
    nothing = runner.invoke(main, ["predict", str(folder / "b.png")])
    assert nothing.exit_code != 0 and "b.png" in nothing.output
    wrong = runner.invoke(main, ["predict", str(folder), "--output", str(tmp_path / "scores.xlsx")])
    assert wrong.exit_code != 0 and ".csv or .parquet" in wrong.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_review_app_scores_uploads_over_http_and_checks_them(served) -> None:
    import uvicorn

    from facetransfer.scoring.app import UploadLimits, create_app

    port = _free_port()
    app = create_app(served, limits=UploadLimits(max_upload_bytes=200_000, max_files=3))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            if server.started:
                break
            time.sleep(0.1)
        assert "drop images" in requests.get(base + "/", timeout=10).text.lower()
        assert requests.get(base + "/api/model", timeout=10).json()["model_version"] == "deepfake-detector/1"
        image = png_bytes(4)
        files = [("files", ("face.png", image, "image/png")), ("files", ("bad.png", b"xx", "image/png"))]
        answer = requests.post(base + "/api/score?explain=false", files=files, timeout=60)
        assert answer.status_code == 200, answer.text
        good, bad = answer.json()["results"]
        direct = served.predict(pd.DataFrame({"image": pd.Series([image], dtype=object)}))
        assert good["fake_probability"] == pytest.approx(direct["fake_probability"].iloc[0], abs=1e-12)
        assert good["error"] is None and bad["fake_probability"] is None and "bad.png" in bad["error"]
        text = requests.post(
            base + "/api/score", files=[("files", ("a.txt", b"hi", "text/plain"))], timeout=10
        )
        assert text.status_code == 415 and "a.txt" in text.json()["detail"]
        big = requests.post(
            base + "/api/score", files=[("files", ("big.png", b"0" * 200_001, "image/png"))], timeout=10
        )
        assert big.status_code == 413
        many = requests.post(
            base + "/api/score",
            files=[("files", (f"{i}.png", image, "image/png")) for i in range(4)],
            timeout=10,
        )
        assert many.status_code == 413
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_versions_registered_before_serving_models_load_for_the_champion_check_only(
    mlflow_client: MlflowClient, tmp_path: Path
) -> None:
    from facetransfer.scoring.predict import load_scoring_model
    from facetransfer.scoring.registered import load_registered_detector

    detector = DeepLabV3PlusDetector(BACKBONE, "none").eval()
    with mlflow.start_run() as run:
        info = mlflow.pytorch.log_model(
            detector, name="model", serialization_format="pickle", pip_requirements=[]
        )
    version = register_run_model(
        mlflow_client,
        name="legacy-detector",
        run_id=run.info.run_id,
        model_uri=info.model_uri,
        tags={"threshold": 0.4, "backbone": BACKBONE, "image_size": 64},
    )
    client_version = mlflow_client.get_model_version("legacy-detector", version.version)
    loaded = load_registered_detector("legacy-detector", client_version)
    assert loaded.threshold == 0.4 and loaded.preprocessing.image_size == 64
    mlflow_client.set_registered_model_alias("legacy-detector", "champion", version.version)
    with pytest.raises(LookupError, match=r"pickled mlflow\.pytorch model registered before"):
        load_scoring_model("legacy-detector", "champion", mlflow.get_tracking_uri())


def test_review_page_lists_uploads_in_order_with_their_pictures() -> None:
    from facetransfer.scoring.page import PAGE

    script = PAGE.split("<script>")[1].split("</script>")[0]
    # One card per file, appended when the file is chosen (upload order); each answer fills the
    # card of the upload it names (input_index), whatever order the requests finish in.
    assert "files.map(file => results.appendChild(placeholder(file)))" in script
    assert "perUpload[result.input_index ?? i]?.push(result)" in script
    assert "perUpload.forEach((found, i) => fill(cards[i], found))" in script
    assert "prepend" not in script
    # Each card shows the uploaded file itself, explained or not.
    placeholder = script[script.index("function placeholder") : script.index("function fail")]
    assert 'createElement(video ? "video" : "img")' in placeholder
    assert "URL.createObjectURL(file)" in placeholder and 'className = "upload"' in placeholder
    # Region values with three decimals, as in the figures.
    contribution = script[script.index("function contribution") : script.index("let uploaded")]
    assert "toFixed(3)" in contribution and '"0.000"' in contribution


TEMPERATURE = 2.5
UNCALIBRATED_THRESHOLD = 0.88


@pytest.fixture
def active_registry(registry: MlflowClient) -> MlflowClient:
    """``registry`` as the tracking URI again: a test using ``mlflow_client`` resets it on teardown."""
    import os

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])  # the registry fixture's store
    return registry


@pytest.fixture
def calibrated(active_registry: MlflowClient) -> str:
    """``calibrated-detector`` v1: a detector with logits near 2, served at temperature 2.5; its URI."""
    import torch

    from facetransfer.evaluation import calibrated_threshold

    detector = DeepLabV3PlusDetector(BACKBONE, "none").eval()
    with torch.no_grad():
        detector.head.output.bias.fill_(2.0)  # sigmoid(2) = 0.88 vs sigmoid(2 / 2.5) = 0.69: tellable
    with mlflow.start_run() as segmenter_run:
        segmenter_uri = log_weights(build_segmenter(BACKBONE), image_size=64, scheme="mut1ny14")
    with mlflow.start_run() as detector_run:
        detector_uri = log_weights(detector, image_size=64)
    report = {
        "run_id": detector_run.info.run_id,
        "model_uri": detector_uri,
        "threshold": calibrated_threshold(UNCALIBRATED_THRESHOLD, TEMPERATURE),
        "calibration": {"temperature": TEMPERATURE},
        "preprocessing": Preprocessing.for_backbone(BACKBONE, 64).to_dict(),
        "backbone": BACKBONE,
        "image_size": 64,
    }
    model_uri = log_detector_serving_model(report, {"model_uri": segmenter_uri}, "calibrated-detector", "1")
    assert segmenter_run.info.run_id != detector_run.info.run_id
    register_run_model(
        active_registry, name="calibrated-detector", run_id=detector_run.info.run_id, model_uri=model_uri
    )
    return "models:/calibrated-detector/1"


def _logits(detector, paths: list[str]) -> np.ndarray:
    """The detector's logits of image files, prepared as evaluation prepares them (float64)."""
    import torch

    from facetransfer.inputs.datasets import ImageDataset

    dataset = ImageDataset(
        pd.DataFrame({"path": paths}), preprocessing=Preprocessing.for_backbone(BACKBONE, 64)
    )
    with torch.no_grad():
        return np.array([float(detector(dataset[i][0][None])[0]) for i in range(len(dataset))])


def test_a_calibrated_version_serves_sigmoid_of_logit_over_temperature(
    calibrated: str, tmp_path: Path
) -> None:
    from facetransfer.scoring.registered import load_registered_detector

    paths = []
    for seed in range(4):
        paths.append(str(tmp_path / f"{seed}.png"))
        Path(paths[-1]).write_bytes(png_bytes(seed))
    model = mlflow.pyfunc.load_model(calibrated)
    scored = model.predict(pd.DataFrame({"path": paths}), params={"explain": True})
    logits = _logits(model.unwrap_python_model().scorer.detector, paths)
    served = scored["fake_probability"].to_numpy()
    np.testing.assert_allclose(served, 1 / (1 + np.exp(-logits / TEMPERATURE)), atol=1e-6)
    assert np.all(np.abs(served - 1 / (1 + np.exp(-logits))) > 0.1), "not the raw sigmoid"
    # Decisions are those of the raw probabilities at the uncalibrated threshold.
    raw_fake = 1 / (1 + np.exp(-logits)) >= UNCALIBRATED_THRESHOLD
    assert scored["prediction"].tolist() == ["fake" if fake else "real" for fake in raw_fake]
    assert scored["threshold"].iloc[0] == pytest.approx(1 / (1 + np.exp(-np.log(0.88 / 0.12) / TEMPERATURE)))
    assert scored["regions"].notna().all()  # the explainer runs on the temperature-scaled detector

    # The champion check loads the version as served: its model's sigmoid is the served probability.
    client = MlflowClient()
    loaded = load_registered_detector(
        "calibrated-detector", client.get_model_version("calibrated-detector", "1")
    )
    assert loaded.temperature == TEMPERATURE and loaded.threshold == scored["threshold"].iloc[0]
    checked = predict_scores(
        loaded.model, pd.DataFrame({"path": paths}), preprocessing=Preprocessing.for_backbone(BACKBONE, 64)
    )
    np.testing.assert_allclose(checked, served, atol=1e-6)


def test_an_old_serving_json_without_temperature_serves_the_raw_sigmoid(
    active_registry: MlflowClient, tmp_path: Path
) -> None:
    import json

    from facetransfer.scoring.pyfunc import SETTINGS_FILE, ServingSettings

    folder = Path(mlflow.artifacts.download_artifacts("models:/deepfake-detector/1", dst_path=str(tmp_path)))
    (settings_file,) = folder.rglob(SETTINGS_FILE)
    values = json.loads(settings_file.read_text(encoding="utf-8"))
    assert (values["format"], values["temperature"]) == (2, 1.0)
    old = {key: value for key, value in values.items() if key != "temperature"} | {"format": 1}
    settings_file.write_text(json.dumps(old), encoding="utf-8")  # as logged before calibration existed

    model = mlflow.pyfunc.load_model(str(folder))
    assert model.unwrap_python_model().settings.temperature == 1.0
    image = tmp_path / "image.png"
    image.write_bytes(png_bytes(7))
    row = model.predict(pd.DataFrame({"path": [str(image)]})).iloc[0]
    logit = _logits(model.unwrap_python_model().scorer.detector, [str(image)])[0]
    assert row["fake_probability"] == pytest.approx(1 / (1 + np.exp(-logit)), abs=1e-6)
    assert row["threshold"] == 0.25

    with pytest.raises(ValueError, match="format 3 is not one of"):
        ServingSettings.from_dict(values | {"format": 3})
    with pytest.raises(ValueError, match="temperature must be a positive number"):
        ServingSettings.from_dict(values | {"temperature": 0})
