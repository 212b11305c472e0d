"""Configuration values refused when the file is read, not hours into a run (issue 18, item 8)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from facetransfer.config import DataSettings, RunConfig, load_run_config
from facetransfer.training.settings import DistributedConfig, TrainConfig

SOURCES: dict[str, Any] = {
    "segmentation_sources": [{"name": "faces", "format": "mut1ny", "path": "data/segmentation"}],
    "detection_sources": [{"name": "real", "format": "folder", "path": "data/real", "role": "real"}],
}


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("field", ["learning_rate", "class_weight_power", "transferred_learning_rate_scale"])
def test_a_training_rate_that_is_not_a_finite_number_is_refused(field: str, value: float) -> None:
    with pytest.raises(ValidationError, match=f"TrainConfig.{field} must be a finite number"):
        TrainConfig.model_validate({field: value})


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_distributed_timeout_that_is_not_a_finite_number_is_refused(value: float) -> None:
    with pytest.raises(ValidationError, match="timeout_s must be a finite number"):
        DistributedConfig.model_validate({"timeout_s": value})


@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf", ".NaN"])
def test_yaml_spellings_of_nan_and_infinity_are_refused_in_a_train_block(text: str) -> None:
    train = yaml.safe_load(f"learning_rate: {text}")
    with pytest.raises(ValidationError, match="finite number"):
        TrainConfig.model_validate(train)


@pytest.mark.parametrize(("field", "value"), [("epochs", True), ("batch_size", True), ("amp", 1)])
def test_booleans_and_numbers_are_not_taken_for_each_other(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        TrainConfig.model_validate({field: value})


@pytest.mark.parametrize("device", ["cuda:abc", "cuda:", "cuda:-1", "cpu:0", "cuda:0:1", "cuda:1.5"])
def test_a_device_that_torch_would_not_understand_is_refused(device: str) -> None:
    with pytest.raises(ValidationError, match=r"TrainConfig\.device"):
        TrainConfig(device=device)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_the_documented_devices_are_accepted(device: str) -> None:
    assert TrainConfig(device=device).device == device


@pytest.mark.parametrize(
    "ratios", [(0.5, 0.2, 0.2), (0.7, 0.3, 0.3), (1.2, -0.1, -0.1), (math.nan, 0.5, 0.5)]
)
def test_split_ratios_that_do_not_sum_to_one_are_refused_when_read(ratios: tuple[float, ...]) -> None:
    with pytest.raises(ValidationError, match="split_ratios must be three non-negative numbers summing to 1"):
        DataSettings.model_validate({**SOURCES, "split_ratios": ratios})


def _run_config(**blocks: Any) -> RunConfig:
    return RunConfig.model_validate({"data": SOURCES, **blocks})


def test_an_unknown_class_in_class_share_bounds_is_refused_naming_it_and_the_known_ones() -> None:
    with pytest.raises(ValidationError) as refused:
        _run_config(validation={"class_share_bounds": {"skin": [0.0, 0.5], "hair": [0.0, 0.5]}})
    message = str(refused.value)
    assert "unknown class 'skin'" in message and "mut1ny14" in message
    assert "left_eye" in message and "background" in message, "the known classes are listed"


def test_a_class_of_the_other_scheme_is_refused_in_class_share_bounds() -> None:
    # `eyes` is a class of mut1ny11 only: under mut1ny14 it would never be checked.
    with pytest.raises(ValidationError, match="unknown class 'eyes'"):
        _run_config(validation={"class_share_bounds": {"eyes": [0.0, 0.2]}})


def test_known_classes_in_class_share_bounds_are_accepted() -> None:
    config = _run_config(validation={"class_share_bounds": {"hair": [0.0, 0.5], "face": [0.1, 0.7]}})
    assert config.validation.class_share_bounds["hair"] == (0.0, 0.5)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(text, encoding="utf-8")
    return path


BASE = """\
parameters:
  data:
    segmentation_sources: [{name: faces, format: mut1ny, path: data/segmentation}]
    detection_sources: [{name: real, format: folder, path: data/real, role: real}]
"""


def test_a_duplicate_key_is_refused_naming_the_key_and_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE + "  detector:\n    train: {epochs: 3}\n  detector:\n    train: {epochs: 30}\n",
    )
    with pytest.raises(ValueError, match=r"duplicate key 'detector' .*line 7.*line 5") as refused:
        load_run_config(path)
    assert str(path) in str(refused.value)


def test_a_duplicate_key_inside_a_flow_mapping_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "  segmenter:\n    train: {epochs: 3, batch_size: 8, epochs: 5}\n")
    with pytest.raises(ValueError, match=r"duplicate key 'epochs'.*line 6"):
        load_run_config(path)


def test_a_config_without_duplicates_still_loads_with_yaml_merge_keys(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        BASE
        + "  segmenter:\n    train: &short {epochs: 3, batch_size: 8}\n"
        + "  detector:\n    train:\n      <<: *short\n      epochs: 4\n",
    )
    config = load_run_config(path)
    assert (config.segmenter.train.epochs, config.detector.train.epochs) == (3, 4)
    assert config.detector.train.batch_size == 8


def test_the_shipped_configs_have_no_duplicate_keys() -> None:
    repository = Path(__file__).resolve().parents[2]
    for name in ("zenml_config.yaml", "configs/tiny.yaml"):
        assert load_run_config(repository / name).data.segmentation_sources
