"""Publication figures (matplotlib, Qt-free): each function returns a Figure; saving is the caller's job."""
