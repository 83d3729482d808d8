"""The errors a user can act on. Each message is one line that says what to do; the scripts
print it and exit with `exit_code`, never with a traceback."""

class UserError(Exception):
    """A problem the user must act on (bad input, data, checkpoint, or a run that diverged)."""
    exit_code = 1


class UsageError(UserError):
    """A bad flag, a bad saved setting or a folder the run may not use."""
    exit_code = 2


class DataError(UserError):
    """Missing, damaged or unusable training or scoring data."""


class CheckpointError(UserError):
    """A checkpoint that cannot be saved, read or used by this model."""


class TrainingDiverged(UserError):
    """A non-finite loss; the newest checkpoint is left as the last good one."""
