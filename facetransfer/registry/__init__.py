"""The MLflow model registry, in one place: registration, aliases and version tags (``client``)
and the promotion rule that moves the ``champion`` alias (``promotion``)."""
