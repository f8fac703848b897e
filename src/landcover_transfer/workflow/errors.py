"""Expected errors: bad data or bad configuration, reported as one clear line instead of a traceback."""


class LandcoverError(Exception):
    """Base class of the errors a user can fix (bad input file, bad config)."""


class DataError(LandcoverError):
    """A dataset file is missing, unreadable, or does not hold what the study needs."""


class ConfigError(LandcoverError):
    """The configuration names something that does not exist or cannot work."""
