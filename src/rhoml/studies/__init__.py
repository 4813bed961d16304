"""Studies: learning curves and comparisons built on the public train/predict API
(:mod:`rhoml.runs`, :mod:`rhoml.families`); they hold no model or training code of their own."""
