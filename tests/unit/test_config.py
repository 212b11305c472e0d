"""Run configuration: per-backbone training overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from facetransfer.config import ModelTrainingSettings, load_run_config

REPOSITORY = Path(__file__).resolve().parents[2]


def test_a_backbone_override_changes_only_that_backbones_settings() -> None:
    settings = ModelTrainingSettings.model_validate(
        {
            "pretrained": False,
            "train": {"epochs": 8, "learning_rate": 0.002},
            "backbone_overrides": {"resnet50": {"epochs": 3, "learning_rate": 0.0005}},
        }
    )
    resnet = settings.for_backbone("resnet50")
    mobilenet = settings.for_backbone("mobilenet_v3_large")
    assert (resnet.train.epochs, resnet.train.learning_rate) == (3, 0.0005)
    assert (mobilenet.train.epochs, mobilenet.train.learning_rate) == (8, 0.002)
    assert resnet.pretrained is False and resnet.train.batch_size == settings.train.batch_size
    # A step's settings carry no other backbone's overrides: editing them keeps its cache key.
    assert resnet.backbone_overrides == {} and mobilenet == ModelTrainingSettings(
        pretrained=False, train=settings.train
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"vgg16": {"epochs": 1}}, "unknown backbone 'vgg16'"),
        ({"resnet50": {"epoch": 1}}, "backbone_overrides.resnet50: unknown train settings epoch"),
        ({"resnet50": {"epochs": "many"}}, "backbone_overrides.resnet50"),
        ({"resnet50": {"batch_size": 3, "distributed": {"nproc": 2}}}, "not a multiple of 2"),
    ],
)
def test_a_wrong_override_is_refused_when_the_config_is_read(overrides: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelTrainingSettings.model_validate({"backbone_overrides": overrides})


def test_the_demo_config_shortens_only_the_resnet50_detectors() -> None:
    config = load_run_config(REPOSITORY / "zenml_config.yaml")
    resnet = config.detector.for_backbone("resnet50").train
    mobilenet = config.detector.for_backbone("mobilenet_v3_large").train
    assert resnet.epochs < mobilenet.epochs == config.detector.train.epochs
    assert config.segmenter.for_backbone("resnet50") == config.segmenter.for_backbone("mobilenet_v3_large")
