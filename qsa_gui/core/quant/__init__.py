"""Power-of-two weight quantization (INQ) and the packed model file format that stores it."""
