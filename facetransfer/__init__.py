"""facetransfer: face-segmentation transfer learning for detecting AI-generated faces.

The library behind the ``transfer_pipeline`` ZenML pipeline. Only ``facetransfer.project`` (set-up,
stacks, retrain) talks to ZenML, through its Python client inside functions, and the CLI calls it;
every other package is plain Python that can be tested and reused without a stack. The README's
"Layout" section draws the layers.
"""

__version__ = "0.1.0"
