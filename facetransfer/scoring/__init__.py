"""Scoring images with a detector: the one home of everything that answers "is this face generated?".

* ``scorer``: ``ImageScorer``, decoding + the model's own preprocessing + threshold, per row.
* ``pyfunc`` / ``model_code`` / ``publish``: the image-taking MLflow ``python_function`` model
  (no pickle) and how a version is logged with its signature and input example.
* ``registered``: a registered version loaded for scoring (with its threshold and input settings).
* ``predict``: files and folders scored by a registered model (``facetransfer predict``).
* ``batch``: a folder scored for ``inference_pipeline``, with per-folder counts and a histogram.
* ``app`` / ``page``: the HTTP JSON API and the review page (``facetransfer serve``).

Nothing here imports ZenML; heavy imports (torch, MLflow, FastAPI) happen in the modules that
need them.
"""
