"""qsa-gui: quantized suggestive annotation for histology segmentation."""

__version__ = "0.1.0"
