"""facetransfer: face-segmentation transfer learning for detecting AI-generated faces.

The library behind the ``transfer_pipeline`` ZenML pipeline. It never imports ZenML, so every
part can be tested and reused without a stack.
"""

__version__ = "0.1.0"
