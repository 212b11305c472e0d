"""The torch input pipeline: manifest rows to tensors.

``preprocessing`` (input mode, size, normalisation: one ``Preprocessing`` shared by training,
evaluation and scoring), ``transforms`` (joint image/mask augmentation), ``datasets`` (the torch
datasets the trainers and evaluators read) and ``sample_cache`` (decoded samples keyed by
content and preprocessing)."""
