"""Images as files: the one decoding policy (``decoding``), header and size checks before pixels
(``checks``), and mask/image resizing (``resizing``). Used by ingestion, the input pipeline,
validation, explanation and scoring alike, so every path reads an image the same way."""
