"""The ``python_model`` file of the serving model (MLflow models-from-code: nothing is pickled).

MLflow copies this file into the model and runs it when the model is loaded; it only names the
model class, which lives in the ``facetransfer`` package logged with the model (``code_paths``).
"""

from mlflow.models import set_model

from facetransfer.scoring.pyfunc import ImageDetectorModel

set_model(ImageDetectorModel())
