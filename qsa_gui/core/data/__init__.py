"""Image and label files: eager readers, lazy strips for large images, the GlaS layout, the generator."""
