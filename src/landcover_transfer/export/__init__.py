"""Shipping a fine-tuned variant: its model in four formats (Keras, SavedModel, ONNX, LiteRT), each checked against
Keras on held-out images, and a model card."""
