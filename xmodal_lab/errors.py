"""The kit's error types: each subclasses the builtin a caller would already catch (``except ValueError`` works)."""

from __future__ import annotations


class XmodalError(Exception):
    """Base of every error the kit raises on purpose (bad input, unsafe or foreign files, lost output)."""

class InputValueError(XmodalError, ValueError):
    """An argument or input has the right type but a value that would give a wrong or meaningless answer."""

class InputTypeError(XmodalError, TypeError):
    """An argument has a type the kit would silently misread (a float index, a bool step count...)."""

class InputTooLargeError(InputValueError):
    """An input that would need more memory than the machine has; the message gives the estimate and a size."""

class UnitsError(InputValueError):
    """Imagery in the wrong units (digital numbers for reflectance, linear power or dB x 100 for dB)."""

class NodataError(InputValueError):
    """A raster or tile holds no valid pixel (all NaN or nodata)."""

class CheckpointError(XmodalError, ValueError):
    """A file that is not a checkpoint of this kit, is corrupt, unsafe to load, or for another model."""

class OutputWriteError(XmodalError, OSError):
    """A file the kit was asked to write could not be written, or did not appear after writing."""

class OutputExistsError(OutputWriteError, FileExistsError):
    """The file the kit was asked to write exists (or appeared while writing); it is never replaced."""

class CatalogError(XmodalError, ConnectionError):
    """A STAC catalog, its signing service or its files could not be reached or answered badly (URL named)."""

class NoSceneError(XmodalError, LookupError):
    """A catalog holds no scene for the place, dates and limits asked (widen the dates or the limits)."""


class UnitsWarning(UserWarning):
    """Values that look like the wrong units; the message says what was seen and the fix."""

class NodataWarning(UserWarning):
    """Pixels taken as nodata though the file does not say so (untagged zero fill, NaN); the message names them."""

class SlowInputWarning(UserWarning):
    """An input so large that the computation will take minutes (a whole scene as one tile on a CPU)."""

class SmallDataWarning(UserWarning):
    """A dataset too small for the number computed on it to mean much (e.g. recall on 5 items)."""
