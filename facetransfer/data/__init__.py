"""Data layer: from folders of images in their distributed formats to a validated, versioned manifest.

* ``sources``: ``SourceConfig``, the declaration of one source (format, path, role, options).
* ``readers``: one module per format (mut1ny, celebamask_hq, artifact, ffhq, folder) and
  ``read_source``; ``image_checks``, ``hashing`` and ``inspection`` decode, hash and cache files
  (headers before pixels); ``file_names`` sets aside names that are not UTF-8.
* ``manifest``: ``build_manifest`` (quarantine, duplicates, ``splitting``'s leakage-free splits).
* ``demo``: the deterministic demo dataset in the real formats.
* ``versioning`` and ``add_generator``: DVC tracking of ``data/``.
* ``datasets`` and ``transforms``: the torch datasets the trainers read.

Importing this package imports nothing heavy; each module imports what it needs.
"""
