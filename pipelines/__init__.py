"""ZenML pipelines (wiring only). ``pipelines.transfer_pipeline`` is the pipeline object, so
``zenml pipeline run pipelines.transfer_pipeline -c zenml_config.yaml`` resolves."""

from pipelines.transfer_pipeline import transfer_pipeline

__all__ = ["transfer_pipeline"]
