"""Hostile input at the scoring edges: `predict` keeps its work, both HTTP servers answer per image.

Issue 18, items 6 and 9. The registry holds an untrained detector with its face parser (scores are
random; these tests check what happens around them), served through the real pyfunc, MLflow's own
scoring server and ``facetransfer serve``, each on a loopback port.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from click.testing import CliRunner
from mlflow.exceptions import MlflowException
from PIL import Image

from facetransfer.cli import main
from tests.data.bad_inputs.builders import closed_port_uri
from tests.data.bad_inputs.cases_scoring import LONG_STEM, register_explaining_detector
from tests.data.tree_builders import write_huge_png
from tests.http_server import running


def png_bytes(seed: int, size: tuple[int, int] = (48, 40)) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def strict_json(text: str) -> Any:
    """``text`` parsed as JSON proper: ``NaN`` and ``Infinity`` are not JSON (browsers refuse them)."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def registry_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return register_explaining_detector(tmp_path_factory.mktemp("registry"))


@pytest.fixture
def env(registry_uri: str) -> dict[str, str]:
    """The CLI's environment: the test registry, no retries."""
    return {"MLFLOW_TRACKING_URI": registry_uri, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}


@pytest.fixture(scope="module")
def served(registry_uri: str) -> Any:
    mlflow.set_tracking_uri(registry_uri)
    try:
        return mlflow.pyfunc.load_model("models:/deepfake-detector@champion")
    finally:
        mlflow.set_tracking_uri("")


def predict(arguments: list[str], env: dict[str, str]) -> Any:
    try:
        return CliRunner().invoke(main, ["predict", *arguments], env=env)
    finally:
        mlflow.set_tracking_uri("")  # the command sets the process-wide URI


def two_images(folder: Path, first: str = "a") -> Path:
    folder.mkdir(parents=True)
    (folder / f"{first}.png").write_bytes(png_bytes(1))
    (folder / "b.png").write_bytes(png_bytes(2))
    return folder


# ---------------------------------------------------------------- item 6: predict's outputs ---


def test_a_250_character_file_name_is_explained_and_every_score_is_written(env: dict, tmp_path: Path) -> None:
    folder = two_images(tmp_path / "photos", first=LONG_STEM)
    output, why = tmp_path / "scores.csv", tmp_path / "why"
    result = predict([str(folder), "--output", str(output), "--explain", str(why)], env)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(output)
    assert len(scores) == 2 and scores["error"].isna().all()
    names = [Path(name).name for name in scores["explanation"]]
    assert all(len(name.encode()) <= 255 for name in names) and len(set(names)) == 2
    assert all((why / name).read_bytes().startswith(b"\x89PNG") for name in names)
    long_row = scores[scores["path"].str.contains(LONG_STEM)].iloc[0]
    assert re.fullmatch(r"\d{4}_x{100}\.png", Path(long_row["explanation"]).name), "the row and a cut stem"


def test_an_explanation_that_cannot_be_written_is_reported_for_its_image_only(
    env: dict, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = two_images(tmp_path / "photos")
    why = tmp_path / "why"
    (why / "0000_a.png").mkdir(parents=True)  # where a.png's overlay would go
    output = tmp_path / "scores.csv"
    result = predict([str(folder), "--output", str(output), "--explain", str(why)], env)
    assert result.exit_code == 0, result.output
    scores = pd.read_csv(output)
    by_name = scores.set_index(scores["path"].map(lambda path: Path(path).name))
    assert by_name["error"].isna().all(), "both images were scored"
    assert pd.isna(by_name.loc["a.png", "explanation"])
    assert Path(by_name.loc["b.png", "explanation"]).is_file()
    (warning,) = [record.getMessage() for record in caplog.records if "not written" in record.getMessage()]
    assert "a.png" in warning and "Is a directory" in warning, "the image and the reason are named"
    assert set(pd.read_csv(why / "regions.csv")["path"].map(lambda path: Path(path).name)) == {
        "a.png",
        "b.png",
    }


@pytest.mark.parametrize("option", ["--output", "--explain", "--plots"])
def test_an_output_folder_that_does_not_exist_is_created_before_scoring(
    env: dict, tmp_path: Path, option: str
) -> None:
    folder = two_images(tmp_path / "photos")
    target = tmp_path / "new" / "deeper" / ("scores.csv" if option == "--output" else "out")
    # An unknown model fails at loading: the folder exists by then, so it was made before scoring.
    result = predict([str(folder), option, str(target), "--model", "never-registered"], env)
    assert result.exit_code != 0 and "never-registered" in result.output
    assert (target.parent if option == "--output" else target).is_dir()
    if option == "--output":
        done = predict([str(folder), option, str(target)], env)
        assert done.exit_code == 0, done.output
        assert len(pd.read_csv(target)) == 2


@pytest.mark.parametrize(
    ("option", "where"),
    [
        ("--output", "blocker/scores.csv"),
        ("--output", "blocker/deeper/scores.csv"),
        ("--explain", "blocker/why"),
        ("--plots", "blocker/plots"),
    ],
)
def test_an_output_path_that_cannot_be_written_is_refused_before_scoring(
    env: dict, tmp_path: Path, option: str, where: str
) -> None:
    folder = two_images(tmp_path / "photos")
    (tmp_path / "blocker").write_text("a file where a folder should be")
    # An unknown model would be the error if the model were loaded first.
    result = predict([str(folder), option, str(tmp_path / where), "--model", "never-registered"], env)
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), f"a clear message, not a traceback: {result.exception!r}"
    assert option in result.output and "blocker is a file, not a folder" in result.output
    assert "never-registered" not in result.output, "checked before the model was asked for"


@pytest.mark.parametrize(("option", "kind"), [("--output", "is a directory"), ("--explain", "is a file")])
def test_an_output_of_the_wrong_kind_is_refused_before_scoring(
    env: dict, tmp_path: Path, option: str, kind: str
) -> None:
    folder = two_images(tmp_path / "photos")
    target = tmp_path / "scores.csv"
    target.mkdir() if option == "--output" else target.write_text("a file")
    result = predict([str(folder), option, str(target), "--model", "never-registered"], env)
    assert result.exit_code != 0 and kind in result.output and "never-registered" not in result.output


def test_explain_asked_of_a_model_without_a_face_parser_is_a_clear_error(tmp_path: Path) -> None:
    from tests.data.bad_inputs.entry_points import register_tiny_detector

    env = {"MLFLOW_TRACKING_URI": register_tiny_detector(tmp_path / "registry")}
    result = predict([str(two_images(tmp_path / "photos")), "--explain", str(tmp_path / "why")], env)
    assert result.exit_code != 0 and "carries no face parser" in result.output
    assert isinstance(result.exception, SystemExit), f"a clear message, not a traceback: {result.exception!r}"


# ---------------------------------------------------------- item 9: MLflow's scoring server ---


@pytest.fixture
def mlflow_server(served: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """MLflow's own scoring server (``mlflow models serve``'s app) over the champion, in-process."""
    from mlflow.pyfunc import scoring_server

    # init() marks the process as a serving environment; the monkeypatch undoes it afterwards.
    monkeypatch.setenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
    with running(scoring_server.init(served)) as base:
        yield base


def invoke(base: str, cells: list[Any], **params: Any) -> requests.Response:
    body: dict[str, Any] = {"dataframe_split": {"columns": ["image"], "data": [[cell] for cell in cells]}}
    if params:
        body["params"] = params
    return requests.post(f"{base}/invocations", json=body, timeout=120)


def test_mlflow_server_gives_a_bad_base64_cell_its_own_error_row(mlflow_server: str) -> None:
    image = png_bytes(3)
    cells = [
        base64.b64encode(image).decode("ascii"),
        "this is %% not base64",
        None,
        base64.encodebytes(image).decode("ascii"),  # wrapped at 76 characters, as `base64` writes it
    ]
    answer = invoke(mlflow_server, cells)
    assert answer.status_code == 200, answer.text
    good, bad, empty, wrapped = strict_json(answer.text)["predictions"]
    assert good["error"] is None and 0 <= good["fake_probability"] <= 1
    assert "base64" in bad["error"] and bad["fake_probability"] is None and bad["prediction"] is None
    assert "empty cell" in empty["error"] and empty["fake_probability"] is None
    assert wrapped["error"] is None and wrapped["fake_probability"] == good["fake_probability"]


def test_error_rows_are_json_null_not_nan_from_the_mlflow_server(mlflow_server: str) -> None:
    answer = invoke(mlflow_server, [base64.b64encode(b"not an image").decode("ascii")])
    assert answer.status_code == 200, answer.text
    (row,) = strict_json(answer.text)["predictions"]
    assert row["error"] and row["fake_probability"] is None and row["image_fake_probability"] is None


def test_the_python_api_still_takes_bytes_and_keeps_nan_for_missing_scores(served: Any) -> None:
    image = png_bytes(4)
    frame = pd.DataFrame(
        {"image": pd.Series([image, base64.b64encode(image).decode(), b"junk"], dtype=object)}
    )
    scored = served.predict(frame)
    assert (
        scored["error"].iloc[0] is None
        and scored["fake_probability"].iloc[0] == scored["fake_probability"].iloc[1]
    )
    assert scored["fake_probability"].dtype == np.float64 and np.isnan(scored["fake_probability"].iloc[2])


def test_only_a_malformed_request_is_the_clients_error(
    served: Any, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = {"dataframe_split": {"columns": ["path", "image"], "data": [["a.png", "eA=="]]}}
    assert requests.post(f"{mlflow_server}/invocations", json=both, timeout=60).status_code == 400
    assert invoke(mlflow_server, ["eA=="], faces="sideways").status_code == 400

    def broken(inputs: Any) -> Any:
        raise ValueError("an internal shape mismatch")

    monkeypatch.setattr(served.unwrap_python_model().scorer, "probabilities", broken)
    answer = invoke(mlflow_server, [base64.b64encode(png_bytes(5)).decode("ascii")])
    assert answer.status_code == 500, answer.text
    with pytest.raises(MlflowException) as raised:
        served.predict(pd.DataFrame({"image": pd.Series([png_bytes(5)], dtype=object)}))
    assert raised.value.get_http_status_code() == 500
    assert isinstance(raised.value.__cause__, ValueError)


# ------------------------------------------------------------------ item 9: facetransfer serve ---


def review_app(served: Any, **limits: Any) -> Any:
    from facetransfer.scoring.app import UploadLimits, create_app

    return create_app(served, limits=UploadLimits(**limits))


def test_an_unsupported_file_type_gets_an_error_row_and_the_other_images_are_scored(served: Any) -> None:
    files = [
        ("files", ("face.png", png_bytes(6), "image/png")),
        ("files", ("notes.txt", b"hello", "text/plain")),
        ("files", ("other.png", png_bytes(7), "image/png")),
    ]
    with running(review_app(served)) as base:
        answer = requests.post(f"{base}/api/score?explain=false", files=files, timeout=120)
        assert answer.status_code == 200, answer.text
        results = strict_json(answer.text)["results"]
        assert [result["input_index"] for result in results] == [0, 1, 2]
        assert [result["name"] for result in results] == ["face.png", "notes.txt", "other.png"]
        first, refused, third = results
        assert first["error"] is None and third["error"] is None and first["fake_probability"] is not None
        assert "notes.txt" in refused["error"] and "text/plain" in refused["error"]
        assert refused["fake_probability"] is None and refused["prediction"] is None
        assert set(refused) == set(first), "an error row has the columns of every row"
        nothing = requests.post(
            f"{base}/api/score", files=[("files", ("a.txt", b"hi", "text/plain"))], timeout=30
        )
        assert nothing.status_code == 415, "nothing at all to score is still refused whole"


def test_a_request_over_the_pixel_budget_is_refused_from_the_headers(
    served: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facetransfer.scoring import face_inputs

    decoded: list[Any] = []
    real_decode = face_inputs.decode_rgb
    monkeypatch.setattr(face_inputs, "decode_rgb", lambda *a, **k: decoded.append(a) or real_decode(*a, **k))
    bomb = write_huge_png(tmp_path / "bomb.png", side=20_000).read_bytes()
    with running(review_app(served, max_request_pixels=3_000)) as base:
        two = [("files", (f"{i}.png", png_bytes(i), "image/png")) for i in range(2)]  # 2 x 1920 px
        answer = requests.post(f"{base}/api/score?explain=false", files=two, timeout=60)
        assert answer.status_code == 413 and "3000" in answer.json()["detail"]
        bombs = [("files", (f"bomb{i}.png", bomb, "image/png")) for i in range(8)]
        answer = requests.post(f"{base}/api/score?explain=false", files=bombs, timeout=60)
        assert answer.status_code == 413 and "3200000000" in answer.json()["detail"]
        assert decoded == [], "refused from the headers: nothing was decoded"
        one = requests.post(f"{base}/api/score?explain=false", files=two[:1], timeout=60)
        assert one.status_code == 200, one.text
    from facetransfer.scoring.app import UploadLimits

    assert UploadLimits().max_request_pixels >= 89_478_485, "one image of the largest allowed size fits"


def test_a_request_still_decoding_does_not_hold_up_another(
    served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facetransfer.scoring import face_inputs

    slow_image, quick_image = png_bytes(8), png_bytes(9)
    entered, release = threading.Event(), threading.Event()
    real_decode: Callable = face_inputs.decode_rgb

    def decode(source: Any, *args: Any, **kwargs: Any) -> Any:
        if source == slow_image:  # stands for a decode that takes long (a huge picture)
            entered.set()
            release.wait(timeout=60)
        return real_decode(source, *args, **kwargs)

    monkeypatch.setattr(face_inputs, "decode_rgb", decode)
    answers: dict[str, requests.Response] = {}

    def post(name: str, image: bytes) -> None:
        files = [("files", (f"{name}.png", image, "image/png"))]
        answers[name] = requests.post(f"{base}/api/score?explain=false", files=files, timeout=90)

    with running(review_app(served)) as base:
        slow = threading.Thread(target=post, args=("slow", slow_image))
        slow.start()
        try:
            assert entered.wait(timeout=60), "the slow request reached decoding"
            quick = threading.Thread(target=post, args=("quick", quick_image))
            quick.start()
            quick.join(timeout=30)
            assert not quick.is_alive() and answers["quick"].status_code == 200, "answered meanwhile"
            assert not release.is_set() and "slow" not in answers
        finally:
            release.set()
            slow.join(timeout=60)
    assert answers["slow"].status_code == 200


def test_serve_reports_an_unreachable_registry_without_a_traceback(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": closed_port_uri(), "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"}
    try:
        result = CliRunner().invoke(main, ["serve", "--root", str(tmp_path)], env=env)
    finally:
        mlflow.set_tracking_uri("")
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), f"a clear message, not a traceback: {result.exception!r}"
    assert "model registry at http://127.0.0.1:" in result.output
