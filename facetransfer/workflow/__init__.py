"""The work of each pipeline stage, as plain functions the ZenML steps call.

Each function trains, evaluates or decides and records what it did in MLflow (a child run per
model, named ``segmenter-<backbone>`` / ``detector-<backbone>-<variant>``), then returns a
JSON-serialisable report that the next stage reads. No ZenML here: the steps only pass
artifacts in and out, so every stage also runs (and is tested) without a stack.
"""
