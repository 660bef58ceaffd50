"""Source extraction (CNMF-style) and component evaluation for head-fixed movies.

`extract_sources` (extract.py) is the step's core function; `SourcesParams` and
`EvaluationParams` hold its defaults; `evaluate` re-judges components with new thresholds.
"""

import lazy_loader as _lazy

# Names load on first use, so importing a light module of this package (its parameters,
# for the command line) does not import the heavy ones.
__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "evaluation": ["evaluate"],
        "extract": ["SourcesResult", "extract_sources"],
        "params": ["EvaluationParams", "SourcesParams"],
    },
)
