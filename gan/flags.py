"""Flag types and the one-line argparse front, with no TensorFlow: the bench scripts check
their flags with these before TensorFlow loads. Each type raises ArgumentTypeError with a
hint, which OneLineParser prints as one line."""

import argparse
import sys

NUM_CLASSES = 10
SCRIPTS = ("gan_mlp", "dcgan", "cgan", "lsgan")  # the article scripts; the only models a config.json may name


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line on stderr (exit 2), not the usage block, and
    which takes no abbreviations: `--checkpoint` is not quietly `--checkpoint-dir`."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def exit_with_error(prog, message, code=2):
    print(f"{prog}: error: {message}", file=sys.stderr)
    sys.exit(code)



def bounded_int(low, high=None):
    """A whole number from low to high (no upper bound if high is None)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
        if value < low:
            raise argparse.ArgumentTypeError(
                ("must be positive" if low == 1 else f"must be {low} or more") + f", got {value}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value
    return parse


positive_int = bounded_int(1)


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text):
    """A finite number >= 0, where 0 turns a knob off (--r1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 (off) or a positive number, got {text}")
    return value


def positive_float_upto(high):
    """A positive number no larger than high."""
    def parse(text):
        value = positive_float(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, got {text}")
        return value
    return parse


def unit_interval(hint="must be in [0, 1)"):
    """An argparse type for a number in [0, 1); `hint` says what to pass instead."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not 0.0 <= value < 1.0:
            raise argparse.ArgumentTypeError(f"{text}: {hint}")
        return value
    return parse


def interval(text):
    """A number of steps, or `epoch`: once per pass over the data, at any batch size."""
    if text == "epoch":
        return text
    try:
        return positive_int(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r}: use a number of steps or 'epoch'")


def digit_list(text):
    try:
        digits = [int(d) for d in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a digit or comma-separated digits")
    if not all(0 <= d < NUM_CLASSES for d in digits):
        raise argparse.ArgumentTypeError(f"digits are 0-9, got {text}")
    return digits


def recipe_type(recipes, changes):
    """--recipe: a named recipe, or a comma-separated list of single changes for ablations."""
    def parse(text):
        unknown = set() if text in recipes else set(text.split(",")) - set(changes)
        if unknown:
            raise argparse.ArgumentTypeError(
                f"{text!r}: use {' or '.join(recipes)}, or a comma-separated list of changes from "
                f"{', '.join(changes)} (a named recipe takes no changes: list its own instead)")
        return text
    return parse


class CommandLine:
    """A script's flags in one table: argparse parses the command line and prints --help, and
    each flag's default and type are kept here too, so that the typed flags, the defaults and
    the values read back from config.json are told apart without a second parser.

    Every argparse default is SUPPRESS: what parse_args returns is exactly what was typed.
    `overrides` (a script's DEFAULTS) replace the shared defaults before --help shows them.
    """

    def __init__(self, prog, description, overrides=None):
        self.parser = OneLineParser(prog=prog, description=description,
                                    argument_default=argparse.SUPPRESS)
        self.overrides = dict(overrides or {})
        self.defaults = {}  # dest -> default
        self.flags = {}  # dest -> Flag: what a saved value is checked against

    @property
    def prog(self):
        return self.parser.prog

    def group(self, title, description=None):
        return self.parser.add_argument_group(title, description)

    def add(self, group, option, default=None, help="", shown=None, **kwargs):
        """group.add_argument(option, ...) with the default (the script's, if it overrides it)
        written at the end of the help; `shown` says it in words where the value would not."""
        dest = kwargs.get("dest") or option[2:].replace("-", "_")
        default = self.overrides.get(dest, default)
        self.defaults[dest] = default
        shown = default if shown is None else shown
        if help is not argparse.SUPPRESS and shown is not None and shown is not False:
            help = f"{help} (default: {shown})"
        group.add_argument(option, help=help, **kwargs)
        self.flags[dest] = Flag(option, kwargs.get("type"), kwargs.get("choices"),
                                kwargs.get("action") == "store_true")

    def parse(self, argv):
        """(every flag's value, names of the flags typed); a bad flag exits 2 in one line."""
        typed = vars(self.parser.parse_args(argv))
        return {**self.defaults, **typed}, set(typed)


class Flag:
    """What a value read back from disk is checked against: the flag's type and choices."""

    def __init__(self, option, type, choices, switch):
        self.option, self.type, self.choices, self.switch = option, type, choices, switch
