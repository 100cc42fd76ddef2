"""coursekit: the helper package behind the CNN course's book and labs."""

__version__ = "0.1.0"
