"""One JSON conversion for every report: numpy values, NaN, nesting."""

import json
import math
from pathlib import Path

import numpy as np

from facetransfer.jsonable import to_jsonable


def test_numpy_values_nan_and_nesting_become_plain_json() -> None:
    payload = {
        "f1": np.float32(0.5),
        "n": np.int64(3),
        "auc": math.nan,
        "per_generator": {"tconv": {"eer": np.float64("nan")}},
        "shape": (2, np.int16(3)),
        "scores": np.array([0.25, np.nan]),
        1: Path("a/b.png"),
    }
    plain = to_jsonable(payload)
    assert plain == {
        "f1": 0.5,
        "n": 3,
        "auc": None,
        "per_generator": {"tconv": {"eer": None}},
        "shape": [2, 3],
        "scores": [0.25, None],
        "1": "a/b.png",
    }
    assert type(plain["n"]) is int and type(plain["f1"]) is float
    json.dumps(plain, allow_nan=False)  # strict JSON: no NaN token anywhere
