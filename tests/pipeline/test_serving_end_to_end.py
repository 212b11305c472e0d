"""End to end: the tiny champion served four ways, and batch scoring as a pipeline.

The shared trained project (``conftest.py``) gives a real MLflow store whose
``deepfake-detector@champion`` was registered by the pipeline. Servers run as the user would
start them (``mlflow models serve``, ``facetransfer serve``) on 127.0.0.1 and get real requests;
where Chromium is installed, a headless browser uploads two images, a group photo and a video
on the review page.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
import requests

from tests.face_scenes import group_photo, write_jpeg, write_video
from tests.pipeline.project import BIN, Project

pytestmark = pytest.mark.slow

IMAGES = ("data/detection/ffhq", "data/detection/tconv")
PICKLE_EVENTS: list[tuple] = []


def _record_unpickling(event: str, args: tuple) -> None:
    if event == "pickle.find_class":  # raised by Python's unpickler for every global it resolves
        PICKLE_EVENTS.append(args)


@pytest.fixture(scope="module")
def project(trained_project: Project) -> Project:
    return trained_project


@pytest.fixture(scope="module")
def sample(project: Project) -> list[Path]:
    """Two real and two generated demo images, and their scores by ``facetransfer predict``."""
    return [path for folder in IMAGES for path in sorted((project.root / folder).rglob("*.png"))[:2]]


@pytest.fixture(scope="module")
def predicted(project: Project, sample: list[Path]) -> pd.DataFrame:
    result = project.facetransfer("predict", *map(str, sample), "--output", "predicted.csv")
    assert "wrote 4 predictions" in result.stdout
    return pd.read_csv(project.root / "predicted.csv").set_index("path")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(project: Project, command: list[str], ready_url: str, timeout: float = 180) -> Iterator[None]:
    """Start ``command`` in its own process group, wait until ``ready_url`` answers 200, stop it after."""
    env = {**project.env, "MLFLOW_TRACKING_URI": project.tracking_uri}
    with tempfile.TemporaryFile(mode="w+") as log:
        process = subprocess.Popen(
            command, cwd=project.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _until(lambda: _answers(ready_url, process, command), timeout=timeout)
            yield
        except BaseException:
            log.seek(0)
            print(log.read()[-6000:])
            raise
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _answers(url: str, process: subprocess.Popen, command: list[str]) -> bool:
    assert process.poll() is None, f"{' '.join(command)} exited early"
    with contextlib.suppress(requests.ConnectionError):
        return requests.get(url, timeout=5).status_code == 200
    return False


def test_champion_loads_and_scores_without_unpickling(project: Project, predicted: pd.DataFrame) -> None:
    mlflow.set_tracking_uri(project.tracking_uri)
    try:
        sys.addaudithook(_record_unpickling)
        PICKLE_EVENTS.clear()
        model = mlflow.pyfunc.load_model("models:/deepfake-detector@champion")
        scored = model.predict(pd.DataFrame({"path": list(predicted.index)}), params={"explain": True})
        assert PICKLE_EVENTS == [], "loading and scoring the registered serving model unpickles nothing"
    finally:
        mlflow.set_tracking_uri("")
    champion = project.mlflow().get_model_version_by_alias("deepfake-detector", "champion")
    assert (scored["model_version"] == f"deepfake-detector/{champion.version}").all()
    assert (scored["threshold"] == float(champion.tags["threshold"])).all()
    assert scored["fake_probability"].tolist() == pytest.approx(
        predicted["fake_probability"].tolist(), abs=1e-9
    )
    regions = json.loads(scored["regions"].iloc[0])
    assert set(regions) <= {"eyes", "brows", "nose", "lips", "teeth", "ears", "hair", "skin", "background",
                            "glasses", "beard"} and regions  # fmt: skip


def test_mlflow_models_serve_answers_image_bytes(project: Project, predicted: pd.DataFrame) -> None:
    port = _free_port()
    command = [str(BIN / "mlflow"), "models", "serve", "-m", "models:/deepfake-detector@champion"]
    command += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    base = f"http://127.0.0.1:{port}"
    with server(project, command, base + "/ping"):
        images = [base64.b64encode(Path(p).read_bytes()).decode() for p in predicted.index]
        body = {
            "dataframe_split": {"columns": ["image"], "data": [[i] for i in [*images, "bm90IGFuIGltYWdl"]]}
        }
        answer = requests.post(base + "/invocations", json=body, timeout=120)
        assert answer.status_code == 200, answer.text
        rows = answer.json()["predictions"]
        assert [r["fake_probability"] for r in rows[:4]] == pytest.approx(
            predicted["fake_probability"].tolist(), abs=1e-9
        ), "the served model and facetransfer predict give the same scores"
        assert [r["prediction"] for r in rows[:4]] == predicted["prediction"].tolist()
        # The unscored row's missing number is JSON null (valid JSON for every client), not NaN.
        assert rows[4]["fake_probability"] is None and "not a readable image" in rows[4]["error"]

        explained = requests.post(
            base + "/invocations",
            json={"dataframe_records": [{"image": images[0]}], "params": {"explain": True}},
            timeout=120,
        ).json()["predictions"][0]
        assert json.loads(explained["regions"]) and explained["explanation_png"]

        empty = requests.post(base + "/invocations", data=b"", headers={"Content-Type": "application/json"})
        assert 400 <= empty.status_code < 500
        no_rows = requests.post(
            base + "/invocations", json={"dataframe_split": {"columns": ["image"], "data": []}}
        )
        assert no_rows.status_code == 200 and no_rows.json()["predictions"] == []
        wrong = requests.post(base + "/invocations", json={"dataframe_records": [{"file": "x.png"}]})
        assert wrong.status_code == 400 and "exactly one of the columns" in wrong.text


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_review_page_and_api_give_the_scores_of_predict(
    project: Project, predicted: pd.DataFrame, tmp_path: Path
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with server(project, [str(BIN / "facetransfer"), "serve", "--port", str(port)], base + "/healthz"):
        files = [("files", (Path(p).name, Path(p).read_bytes(), "image/png")) for p in predicted.index]
        answer = requests.post(base + "/api/score?explain=false", files=files, timeout=120)
        assert answer.status_code == 200, answer.text
        scores = [r["fake_probability"] for r in answer.json()["results"]]
        assert scores == pytest.approx(predicted["fake_probability"].tolist(), abs=1e-9)
        refused = requests.post(base + "/api/score", files=[("files", ("x.gif", b"GIF89a", "image/gif"))])
        assert refused.status_code == 415
        # A whole photo with three real faces: one row per face, the same scores as predict's.
        group = write_jpeg(tmp_path / "group.jpg", group_photo()[0])
        group_answer = requests.post(
            base + "/api/score?explain=false",
            files=[("files", ("group.jpg", group.read_bytes(), "image/jpeg"))],
            timeout=120,
        ).json()["results"]
        assert len(group_answer) == 3 and all(len(row["box"]) == 4 for row in group_answer)
        by_cli = pd.read_csv(io.StringIO(project.facetransfer("predict", str(group)).stdout))
        assert [row["fake_probability"] for row in group_answer] == pytest.approx(
            by_cli["fake_probability"].tolist(), abs=1e-9
        )
        # A clip with one moving face: one row per face track, its frames' mean score.
        clip = write_video(tmp_path / "clip.mp4")
        clip_answer = requests.post(
            base + "/api/score?explain=false",
            files=[("files", ("clip.mp4", clip.read_bytes(), "video/mp4"))],
            timeout=120,
        ).json()["results"]
        assert len(clip_answer) == 1 and clip_answer[0]["face_found"] and clip_answer[0]["frames"] >= 2
        if _chromium() is None:
            pytest.skip("no chromium here: the browser half of this test needs Debian's chromium package")
        # Uploads, one request each, each chosen while the one before is still being scored.
        chosen = [Path(predicted.index[0]), Path(predicted.index[2]), group, clip]
        cards = upload_in_headless_chromium(base + "/", chosen, tmp_path)
    shown = cards[0]
    assert float(shown["score"]) == pytest.approx(predicted["fake_probability"].iloc[0], abs=1e-6)
    assert shown["decision"] == predicted["prediction"].iloc[0]
    assert shown["overlay"].startswith("data:image/png;base64,")
    assert shown["version"].startswith("deepfake-detector/")
    assert [card["name"] for card in cards] == [path.name for path in chosen]  # upload order
    assert float(cards[1]["score"]) == pytest.approx(predicted["fake_probability"].iloc[2], abs=1e-6)
    for card in cards[:3]:  # the uploaded picture itself, from the browser's copy of the file
        assert card["upload"].startswith("blob:") and card["upload_width"] > 0
    # The clip, dropped on the page like a picture: its track's heading and mean score. (Its
    # preview may stay blank: Debian's Chromium lacks the MPEG-4 decoders; scoring does not need it.)
    assert cards[3]["headings"] == [f"face track 0 ({clip_answer[0]['frames']} frames, mean score)"]
    assert cards[3]["score"] == f"{clip_answer[0]['fake_probability']:.6f}"
    assert cards[3]["upload"].startswith("blob:")
    # The group photo: a box per face drawn on the picture, labelled with the face's score.
    assert cards[2]["boxes"] == [
        f"face {i}: {row['fake_probability']:.3f}" for i, row in enumerate(group_answer)
    ]
    assert not cards[2]["noface"]


def upload_in_headless_chromium(url: str, images: Sequence[Path], workdir: Path) -> list[dict[str, Any]]:
    """Open ``url`` in headless Chromium, choose each of ``images`` in turn, read the result cards.

    Drives the browser over the DevTools protocol (websocket-client): each file is set on the
    ``<input type=file>`` as a person choosing it would (the page sees a ``change`` event and
    sends one request per file), without waiting for the previous answer. Returns one dict per
    card on the page, top to bottom: name, score, decision, version, overlay ``src``, the
    uploaded picture's (or video's) ``src``, the picture's decoded width and the face headings.
    """
    import websocket

    port = _free_port()
    browser = subprocess.Popen(
        [
            _chromium() or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--remote-debugging-port={port}",
            f"--user-data-dir={workdir / 'chromium'}",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        targets = _wait_json(f"http://127.0.0.1:{port}/json/list")
        page = next(t for t in targets if t["type"] == "page")
        socket_ = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60)
        counter = iter(range(1, 10_000))

        def call(method: str, **params: object) -> dict:
            ident = next(counter)
            socket_.send(json.dumps({"id": ident, "method": method, "params": params}))
            while True:
                message = json.loads(socket_.recv())
                if message.get("id") == ident:
                    assert "error" not in message, message
                    return message.get("result", {})

        def evaluate(expression: str) -> object:
            return call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

        call("Page.navigate", url=url)
        _until(
            lambda: (
                evaluate("document.readyState") == "complete"
                and evaluate("!!document.getElementById('files')")
            )
        )
        root = call("DOM.getDocument")["root"]["nodeId"]
        node = call("DOM.querySelector", nodeId=root, selector="#files")["nodeId"]
        for image in images:
            call("DOM.setFileInputFiles", nodeId=node, files=[str(image)])
        _until(
            lambda: evaluate(
                f"document.querySelectorAll('.result').length === {len(images)}"
                " && !document.querySelector('.result .pending')"
                " && [...document.querySelectorAll('.result img.upload')].every(i => i.complete)"
                " && document.querySelectorAll('.result svg').length"
                f" >= {sum(1 for image in images if image.suffix == '.jpg')}"
            ),
            timeout=120,
        )
        shown = evaluate(
            "[...document.querySelectorAll('.result')].map(card => ({"
            " name: card.dataset.name,"
            " score: card.querySelector('.score')?.textContent,"
            " decision: card.querySelector('.decision')?.textContent,"
            " version: card.querySelector('.version')?.textContent,"
            " overlay: card.querySelector('img.overlay')?.src ?? '',"
            " upload: card.querySelector('.upload')?.src ?? '',"
            " upload_width: card.querySelector('img.upload')?.naturalWidth ?? 0,"
            " headings: [...card.querySelectorAll('h3')].map(h => h.textContent),"
            " boxes: [...card.querySelectorAll('svg text')].map(t => t.textContent),"
            " noface: !!card.querySelector('.noface')}))"
        )
        screenshot = call("Page.captureScreenshot", format="png")["data"]
        (workdir / "review_page.png").write_bytes(base64.b64decode(screenshot))
        socket_.close()
        assert isinstance(shown, list)
        return shown
    finally:
        os.killpg(browser.pid, signal.SIGTERM)
        browser.wait(timeout=30)


def _wait_json(url: str, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.ConnectionError):
            return requests.get(url, timeout=5).json()
        time.sleep(0.5)
    pytest.fail(f"headless chromium did not open its DevTools endpoint {url}")


def _until(condition: Callable[[], object], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    pytest.fail(f"not reached within {timeout} s")


def test_inference_pipeline_scores_a_labelled_folder(project: Project) -> None:
    incoming = project.root / "incoming"
    for label, folder in (("real", "data/detection/ffhq"), ("fake", "data/detection/tconv")):
        (incoming / label).mkdir(parents=True)
        for image in sorted((project.root / folder).rglob("*.png"))[:5]:
            shutil.copy2(image, incoming / label / image.name)
    (incoming / "fake" / "broken.png").write_bytes(b"not an image")
    config = project.root / "configs" / "inference-incoming.yaml"
    config.write_text(
        (project.root / "configs" / "inference.yaml").read_text().replace("data/detection", "incoming")
    )
    project.run(str(BIN / "zenml"), "pipeline", "run", "pipelines.inference_pipeline", "-c", str(config))

    client = project.mlflow()
    experiment = client.get_experiment_by_name("inference_pipeline")
    (run,) = client.search_runs([experiment.experiment_id], max_results=1)
    metrics = run.data.metrics
    assert metrics["images"] == 11 and metrics["scored"] == 10 and metrics["unreadable"] == 1
    assert 0 <= metrics["share_flagged"] <= 1 and "labelled/f1" in metrics and "labelled/accuracy" in metrics
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)} | {
        a.path for folder in ("plots", "tables") for a in client.list_artifacts(run.info.run_id, folder)
    }
    assert {"plots/score_histogram.png", "tables/per_folder_counts.csv", "scores.parquet"} <= artifacts
    unreadable = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/unreadable_files.csv"))
    assert unreadable["path"].str.endswith("broken.png").tolist() == [True]
    assert "not a readable image" in unreadable["error"].iloc[0]
    counts = pd.read_csv(client.download_artifacts(run.info.run_id, "tables/per_folder_counts.csv"))
    assert counts.set_index("folder")["images"].to_dict() == {"fake": 6, "real": 5}
    scored = project.run(
        str(BIN / "python"),
        "-c",
        "from zenml.client import Client; print(len(Client().get_artifact_version('scored_images').load()))",
    )
    assert scored.stdout.strip().splitlines()[-1] == "11"
