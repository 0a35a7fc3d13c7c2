"""Everything that turns frames into frames: ONNX graphs, onnxruntime sessions, keying.

No job, database or network code lives here (see DEVELOPERS.md, "The house").
"""
