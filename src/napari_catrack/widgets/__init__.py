"""napari widgets: thin layers over the core (build UI, read/write layers, start workers)."""
