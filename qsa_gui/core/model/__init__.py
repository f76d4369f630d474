"""The segmentation network, its training, post-processing, metrics and large-image inference."""
