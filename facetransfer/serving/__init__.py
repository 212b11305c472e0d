"""Serving the registered detector: safetensors weights, the image-taking MLflow pyfunc, HTTP apps.

Nothing here imports ZenML; heavy imports (torch, MLflow, FastAPI) happen in the modules that
need them.
"""
