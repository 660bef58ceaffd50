"""Source extraction (CNMF-style) and component evaluation for head-fixed movies.

`extract_sources` (extract.py) is the step's core function; `SourcesParams` and
`EvaluationParams` hold its defaults; `evaluate` re-judges components with new thresholds.
"""

from napari_catrack.core.sources.evaluation import evaluate
from napari_catrack.core.sources.extract import SourcesResult, extract_sources
from napari_catrack.core.sources.params import EvaluationParams, SourcesParams

__all__ = ["EvaluationParams", "SourcesParams", "SourcesResult", "evaluate", "extract_sources"]
