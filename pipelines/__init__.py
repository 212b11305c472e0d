"""ZenML pipelines (wiring only). ``pipelines.transfer_pipeline``, ``pipelines.inference_pipeline`` and
``pipelines.generalization_pipeline`` are the pipeline objects, so
``zenml pipeline run pipelines.<name> -c <config>`` resolves."""

from pipelines.generalization_pipeline import generalization_pipeline
from pipelines.inference_pipeline import inference_pipeline
from pipelines.transfer_pipeline import transfer_pipeline

__all__ = ["generalization_pipeline", "inference_pipeline", "transfer_pipeline"]
