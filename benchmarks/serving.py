"""Cost of serving: pyfunc overhead vs the raw model, HTTP throughput, region explanations.

Three measurements, printed as figures (not assertions):

1. ``overhead``: the same images scored by the raw detector (``predict_scores``, the evaluation
   path: decode, preprocess, DataLoader, forward) and by the registered serving model
   (``mlflow.pyfunc``: decode, preprocess, forward, result table). Goal: overhead <= 10 %.
2. ``http``: images/s of ``mlflow models serve`` (1 worker) and of ``facetransfer serve``'s JSON
   API, one client sending batches of images as base64 / multipart, on 127.0.0.1.
3. ``explain``: ms per image of a region explanation (face parse + captum FeatureAblation over
   the regions, and the overlay PNG separately) on the CPU, at 64 and 256 px, both backbones,
   with untrained weights and the exact 14-class parse of a procedural demo face (the cost
   depends on the number of regions, not on what the weights learned).

Usage (1 and 2 need a registered champion; run in a project after the demo pipeline):
    python benchmarks/serving.py [--images data/detection] [--count 256] [--skip-http]
    python benchmarks/serving.py --only explain
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from facetransfer.environment import quiet_third_party_telemetry


def _best_of(repeats: int, work: object) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def overhead(images: list[Path], tracking_uri: str, repeats: int) -> None:
    """Raw detector vs serving model on the same files."""
    from facetransfer.evaluation import predict_scores
    from facetransfer.scoring.predict import load_scoring_model

    model = load_scoring_model("deepfake-detector", "champion", tracking_uri)
    scorer = model.unwrap_python_model().scorer
    frame = pd.DataFrame({"path": [str(p) for p in images]})
    raw = _best_of(
        repeats,
        lambda: predict_scores(scorer.detector, frame, preprocessing=scorer.preprocessing, batch_size=32),
    )
    served = _best_of(repeats, lambda: model.predict(frame))
    print(
        f"overhead ({len(images)} images, {scorer.model_version}, best of {repeats}, "
        f"{torch.get_num_threads()} threads):"
    )
    print(f"  raw model (predict_scores): {raw:.3f} s = {len(images) / raw:.1f} img/s")
    print(f"  serving pyfunc:             {served:.3f} s = {len(images) / served:.1f} img/s")
    print(f"  overhead: {100 * (served / raw - 1):+.1f} % (goal <= 10 %)")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _server(command: list[str], ready: str, env: dict[str, str]):  # type: ignore[no-untyped-def]
    import requests

    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        for _ in range(300):
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(ready, timeout=5).status_code == 200:
                    break
            time.sleep(1)
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def http(images: list[Path], tracking_uri: str, batch: int, rounds: int) -> None:
    """Images/s of both HTTP services, one sequential client."""
    import requests

    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri}
    payloads = [images[i : i + batch] for i in range(0, len(images), batch)][:rounds]
    port = _free_port()
    serve = [str(bin_dir / "mlflow"), "models", "serve", "-m", "models:/deepfake-detector@champion"]
    serve += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with _server(serve, f"http://127.0.0.1:{port}/ping", env):
        bodies = [
            {
                "dataframe_split": {
                    "columns": ["image"],
                    "data": [[base64.b64encode(p.read_bytes()).decode()] for p in chunk],
                }
            }
            for chunk in payloads
        ]
        requests.post(f"http://127.0.0.1:{port}/invocations", json=bodies[0], timeout=300)  # warm-up
        started = time.perf_counter()
        for body in bodies:
            requests.post(f"http://127.0.0.1:{port}/invocations", json=body, timeout=300).raise_for_status()
        seconds = time.perf_counter() - started
    count = sum(len(chunk) for chunk in payloads)
    print(f"http: mlflow models serve (1 worker), {batch} images/request: {count / seconds:.1f} img/s")
    port = _free_port()
    with _server(
        [str(bin_dir / "facetransfer"), "serve", "--port", str(port)], f"http://127.0.0.1:{port}/healthz", env
    ):
        url = f"http://127.0.0.1:{port}/api/score?explain=false"
        forms = [[("files", (p.name, p.read_bytes(), "image/png")) for p in chunk] for chunk in payloads]
        requests.post(url, files=forms[0], timeout=300)
        started = time.perf_counter()
        for form in forms:
            requests.post(url, files=form, timeout=300).raise_for_status()
        seconds = time.perf_counter() - started
    print(f"http: facetransfer serve JSON API, {batch} images/request: {count / seconds:.1f} img/s")


def explain(repeats: int) -> None:
    """ms per image of region explanations on the CPU, 64 and 256 px, both backbones."""
    from facetransfer.classes import MUT1NY_14
    from facetransfer.demo.faces import FaceIdentity, FacePose, render_face
    from facetransfer.explanation import FaceParser, RegionExplainer, explanation_figure, figure_png
    from facetransfer.inputs.preprocessing import Preprocessing
    from facetransfer.models import BACKBONES, DeepLabV3PlusDetector, build_segmenter

    class KnownParse(FaceParser):
        """Runs the real segmenter (its cost), answers the face's exact mask (a trained parser's regions)."""

        mask: np.ndarray

        def parse(self, image: np.ndarray) -> np.ndarray:
            super().parse(image)
            return self.mask

    print(f"explain (CPU, {torch.get_num_threads()} threads, best of {repeats}):")
    for size in (64, 256):
        rng = np.random.default_rng(0)
        picture, mask = render_face(FaceIdentity.sample(rng), FacePose.sample(rng), size, rng)
        image = np.clip(picture, 0, 255).astype(np.uint8)
        for backbone in BACKBONES:
            preprocessing = Preprocessing.for_backbone(backbone, size)
            detector = DeepLabV3PlusDetector(backbone, "none").eval()
            parser = KnownParse(build_segmenter(backbone).eval(), MUT1NY_14, preprocessing)
            parser.mask = mask
            explainer = RegionExplainer(detector, parser)
            inputs = preprocessing.normalize(image)
            explainer.explain(image, inputs)  # warm-up
            seconds = _best_of(repeats, lambda e=explainer, p=image, i=inputs: e.explain(p, i))
            result = explainer.explain(image, inputs)
            render = _best_of(repeats, lambda r=result: figure_png(explanation_figure(r, threshold=0.5)))
            print(
                f"  {backbone:<19} {size:>3} px: {1000 * seconds:7.0f} ms/image "
                f"({len(result.contributions)} regions) + {1000 * render:.0f} ms overlay PNG"
            )


def main() -> None:
    quiet_third_party_telemetry()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=Path, default=Path("data/detection"))
    parser.add_argument("--count", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16, help="images per HTTP request")
    parser.add_argument("--rounds", type=int, default=8, help="HTTP requests timed")
    parser.add_argument("--only", choices=["overhead", "http", "explain"], default=None)
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument(
        "--tracking-uri", default=None, help="default: the project's store (MLFLOW_TRACKING_URI)"
    )
    args = parser.parse_args()
    from facetransfer.scoring.predict import collect_images
    from facetransfer.tracking.store import resolve_tracking_uri

    tracking_uri = args.tracking_uri or resolve_tracking_uri(Path(".").resolve())
    if args.only in (None, "overhead", "http"):
        images = [p.resolve() for p in collect_images([args.images])][: args.count]
        if args.only in (None, "overhead"):
            overhead(images, tracking_uri, args.repeats)
        if args.only == "http" or (args.only is None and not args.skip_http):
            http(images, tracking_uri, args.batch, args.rounds)
    if args.only in (None, "explain"):
        explain(args.repeats)


if __name__ == "__main__":
    main()
