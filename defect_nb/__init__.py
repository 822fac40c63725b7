__version__ = "0.1.0"

# Importing the package registers every dataset reader: `readers` fills `data.READERS` on import, so
# `data.load_dataset` knows every name whichever module is imported first, while `data` never imports
# `readers` (no import cycle). Kept by hand: `nbdev_export` only updates the `__version__` line of this file.
from . import readers  # noqa: F401
