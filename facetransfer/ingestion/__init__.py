"""Ingestion: from folders of images in their distributed formats to a validated, versioned manifest.

* ``sources``: ``SourceConfig``, the declaration of one source (format, path, role, options).
* ``readers``: one module per format (mut1ny, celebamask_hq, artifact, ffhq, folder) and
  ``read_source``; ``hashing`` and ``inspection`` hash and cache files (headers before pixels,
  through ``facetransfer.imaging``); ``file_names`` sets aside names that are not UTF-8.
* ``face_crops``: ``faces: align`` sources cut into aligned face crops (``facetransfer.faces``),
  cached by picture content and face settings.
* ``manifest``: ``build_manifest`` (quarantine, duplicates, ``splitting``'s leakage-free splits).
* ``versioning`` and ``add_generator``: DVC tracking of ``data/``.

The torch datasets live in ``facetransfer.inputs``, the demo generator in ``facetransfer.demo``.
Importing this package imports nothing heavy; each module imports what it needs.
"""
