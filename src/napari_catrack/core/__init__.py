"""Qt-free algorithms, one module per analysis stage. Nothing here may import Qt or napari."""
