"""ZenML pipelines (wiring only). ``pipelines.transfer_pipeline`` and ``pipelines.inference_pipeline``
are the pipeline objects, so ``zenml pipeline run pipelines.<name> -c <config>`` resolves."""

from pipelines.inference_pipeline import inference_pipeline
from pipelines.transfer_pipeline import transfer_pipeline

__all__ = ["inference_pipeline", "transfer_pipeline"]
