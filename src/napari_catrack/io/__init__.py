"""Qt-free readers and writers, one module per format."""
