"""Tuning the bundled e5 model on in-domain pairs (issue #21): the float rebuild, training pairs, the training loop,
and the export that the torch-free `onnx:DIR` embedder serves. Everything here imports torch; nothing on the query
path imports this package."""
