"""Where models run: device and AMP settings (``device``), data loaders (``loaders``), seeds and
samplers (``reproducibility``) and the process group (``process_group``). Shared by training,
evaluation and scoring, which is why it sits below all three."""
