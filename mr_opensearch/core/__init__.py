"""The core shared by serving and training: errors, config files, hashes, safe writes, paths, grades,
metrics, the ONNX encoder, table files, the catalog format and the JSON templates.

Standard library, numpy, onnxruntime, tokenizers, pydantic and yaml only; it imports nothing else of
mros (``tests/unit/test_architecture.py``).
"""
