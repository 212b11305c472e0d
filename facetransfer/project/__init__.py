"""Operating the product: project and team set-up, ZenML stacks, scheduled retraining, locks.

These modules drive ZenML, DVC and MLflow from the outside. ZenML is used through its Python
``Client``, imported inside functions only, so importing the library never imports ZenML; the
pipeline itself still runs as a ``zenml`` command in a subprocess (``retrain``).
"""
