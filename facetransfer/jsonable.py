"""The one conversion of run results into plain JSON values (reports, MLflow artifacts, ZenML)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data.

    numpy scalars and arrays become Python numbers and lists, NaN becomes ``None`` (JSON has no
    NaN), tuples become lists, mapping keys strings; anything else (paths, timestamps) its ``str``.
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return str(value)
