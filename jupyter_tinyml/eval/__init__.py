"""How well a model does the lifecycle: `python -m jupyter_tinyml.eval --model M` (or `%tinyml eval ...`).

Each run executes a lifecycle notebook's stage requests in a fresh headless kernel against the model, with the
generated code run as a student would after accepting it, and judges what every stage left behind. The
modules load on first use: importing this package must stay as cheap as `%load_ext jupyter_tinyml`.
"""
