"""Batch runs over many recordings on dask.distributed (`catrack batch`, docs/batch.md).

`manifest` reads and checks the manifest, `steps` holds the steps a recording can run (each
calling its core function), `recording` runs one recording with skip-if-up-to-date, `runner`
distributes recordings over a cluster and writes the report and the pooled tables.
"""
