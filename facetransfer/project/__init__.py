"""Operating the product: project set-up, scheduled retraining, schedules, locks.

These modules drive the ZenML, DVC and MLflow command lines and APIs from the outside (ZenML
only through its CLI, in a subprocess), so the library itself never imports ZenML.
"""
