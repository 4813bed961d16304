"""rhoml: electron densities as first-class inputs and outputs of molecular machine learning.

The data flow runs one way: molecules (:mod:`rhoml.io`) -> density engines
(:mod:`rhoml.density`) -> the dataset store (:mod:`rhoml.store`) -> representations -> models.
"""

from rhoml.errors import RhomlError
from rhoml.molecule import Molecule

__version__ = "0.1.0"

__all__ = ["Molecule", "RhomlError", "__version__"]
