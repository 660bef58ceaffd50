"""One place for every step's defaults: a frozen parameter dataclass per analysis step.

The core function of a step takes its `StepParams` subclass; the CLI builds its options from the
same fields (`add_arguments` / `from_args`), the widget builds its labelled controls from them
(`widgets._params_form.ParamsForm`), and the session stores `to_dict()` as provenance and rebuilds
the object with `from_dict()`. A default therefore exists once, in the dataclass.

    @dataclass(frozen=True)
    class DetectParams(StepParams):
        step: ClassVar[str] = "neurons"
        sigma: float = param(1.0, "Gaussian smoothing before thresholding (px)", minimum=0)
        method: Literal["local", "otsu"] = param("local", "threshold method")

Field metadata (all optional, set through `param`): `help`, `label` (widget), `minimum`,
`maximum`, `step` (widget increment), `choices` (else taken from a `Literal` type), `cli`
(the option name, or False to keep a field off the command line), `gui` (False keeps it out of
the widget), `advanced` (shown folded in the widget), `parse` (str -> value, for option text
such as "auto"), `unit` (shown in help and labels), `maximum_why` (why the maximum: said with it
when a value is refused).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

from napari_catrack.errors import InputError

P = TypeVar("P", bound="StepParams")

_REGISTRY: dict[str, type[StepParams]] = {}


def param(
    default: Any,
    help: str = "",
    *,
    label: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    step: float | None = None,
    choices: tuple | None = None,
    cli: str | bool = True,
    gui: bool = True,
    advanced: bool = False,
    parse: typing.Callable[[str], Any] | None = None,
    unit: str = "",
    maximum_why: str = "",
) -> Any:
    """A dataclass field with the metadata the CLI, the widget and the validation read."""
    meta = {
        "help": help,
        "label": label,
        "minimum": minimum,
        "maximum": maximum,
        "step": step,
        "choices": tuple(choices) if choices is not None else None,
        "cli": cli,
        "gui": gui,
        "advanced": advanced,
        "parse": parse,
        "unit": unit,
        "maximum_why": maximum_why,
    }
    if isinstance(default, list | dict | set):
        raise TypeError("use a tuple (immutable) as a parameter default, not a list/dict/set")
    return field(default=default, metadata=meta)


_ACRONYMS = {"snr": "SNR", "fps": "fps", "roi": "ROI", "dff": "dF/F", "bg": "background"}


@dataclass(frozen=True)
class FieldInfo:
    """What a form or an argument parser needs to know about one parameter."""

    name: str
    kind: type  # int, float, bool, str or tuple
    default: Any
    optional: bool  # None is allowed
    choices: tuple | None
    meta: dict

    @property
    def label(self) -> str:
        """The widget label: the name in words, a unit suffix of the name dropped for the unit
        ("baseline_window_s", unit s -> "baseline window (s)"), acronyms spelled as such."""
        unit = self.meta.get("unit")
        text = self.meta.get("label")
        if not text:
            words = self.name.split("_")
            if unit and len(words) > 1 and words[-1].lower() == unit.lower():
                words = words[:-1]
            text = " ".join(_ACRONYMS.get(w, w) for w in words)
        return f"{text} ({unit})" if unit else text

    @property
    def option(self) -> str | None:
        cli = self.meta.get("cli", True)
        if cli is False:
            return None
        return cli if isinstance(cli, str) else "--" + self.name.replace("_", "-")


def _resolve(tp: Any) -> tuple[type, bool, tuple | None]:
    """(base kind, None allowed, Literal choices) of an annotation."""
    optional = False
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        if len(args) == 1:
            tp = args[0]
            origin = typing.get_origin(tp)
        else:  # e.g. float | str ("auto"): parsed by the field's `parse`
            return str, optional, None
    if origin is Literal:
        choices = typing.get_args(tp)
        return type(choices[0]), optional, choices
    if origin is tuple:
        return tuple, optional, None
    if tp in (int, float, bool, str):
        return tp, optional, None
    return str, optional, None


class StepParams:
    """Base class of the per-step parameter dataclasses (subclasses are frozen dataclasses).

    Subclasses set `step` (the session step name they belong to) and may override `check()` to
    reject combinations of values; single-value ranges come from the field metadata.
    """

    step: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("step"):
            _REGISTRY.setdefault(cls.__dict__["step"], cls)

    def __post_init__(self) -> None:
        for info in self.fields():
            value = getattr(self, info.name)
            if value is None and info.optional:
                continue
            if isinstance(value, str) and info.kind in (bool, int, float) and not info.choices:
                value = _from_text(info, value)  # a CSV manifest cell, a YAML "false"
                object.__setattr__(self, info.name, value)
            if (
                info.kind is float
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                object.__setattr__(self, info.name, float(value))
                value = float(value)
            if info.kind is int and isinstance(value, float) and value.is_integer():
                object.__setattr__(self, info.name, int(value))
                value = int(value)
            if info.kind is tuple and isinstance(value, list):
                object.__setattr__(self, info.name, tuple(value))
            self._check_value(info, value)
        self.check()

    def _check_value(self, info: FieldInfo, value: Any) -> None:
        name = info.option or info.name
        if info.choices is not None and value not in info.choices:
            raise InputError(
                f"{name} must be one of {', '.join(map(str, info.choices))}; got {value!r}"
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value != value:
                raise InputError(f"{name} must be a number, got NaN")
            if value in (math.inf, -math.inf):
                raise InputError(f"{name} must be a finite number; got {value}")
            lo, hi = info.meta.get("minimum"), info.meta.get("maximum")
            if lo is not None and value < lo:
                raise InputError(f"{name} must be >= {lo}; got {value}")
            if hi is not None and value > hi:
                raise InputError(f"{name} must be <= {hi}; got {value}{_why(info)}")

    def check(self) -> None:
        """Reject inconsistent combinations (override); raise `InputError` with one line."""

    # --- introspection ----------------------------------------------------------------------
    @classmethod
    def fields(cls) -> list[FieldInfo]:
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            kind, optional, choices = _resolve(hints[f.name])
            meta = dict(f.metadata) if f.metadata else {}
            choices = meta.get("choices") or choices
            out.append(FieldInfo(f.name, kind, f.default, optional, choices, meta))
        return out

    @classmethod
    def defaults(cls: type[P]) -> P:
        return cls()

    @classmethod
    def option_aliases(cls) -> dict[str, str]:
        """Field names by their command-line spelling without the dashes (`min-interval` and
        `min_interval` for `--min-interval`, field `min_interval_s`), so a batch manifest may
        use what `catrack <command> --help` shows. A field's own name always wins; a spelling
        two fields would share is no alias."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        found: dict[str, set[str]] = {}
        for info in cls.fields():
            if info.option is None:
                continue
            bare = info.option.lstrip("-")
            for alias in {bare, bare.replace("-", "_")} - names:
                found.setdefault(alias, set()).add(info.name)
        return {alias: next(iter(f)) for alias, f in found.items() if len(f) == 1}

    # --- provenance -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able values (tuples become lists), the form stored in sessions."""
        return {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }

    def cli_options(self) -> list[str]:
        """Every value as the command-line options that give it (fields without an option left
        out), so a recorded command reproduces these parameters exactly."""
        out: list[str] = []
        for info in self.fields():
            value = getattr(self, info.name)
            if info.option is None:
                continue
            if info.kind is bool:
                out.append(info.option if value else "--no-" + info.option[2:])
            elif value is None:
                out += [info.option, "none"]
            else:
                text = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
                out += [info.option, text]
        return out

    @classmethod
    def from_dict(cls: type[P], values: dict[str, Any] | None, *, strict: bool = False) -> P:
        """Rebuild from stored values; unknown keys are an error only when `strict`.

        Sessions written by older versions may lack new fields (they take the default) or carry
        fields since removed (ignored unless strict).
        """
        values = dict(values or {})
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - names)
        if unknown and strict:
            raise InputError(
                f"unknown {cls.__name__} parameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(names))}"
            )
        return cls(**{k: v for k, v in values.items() if k in names})

    @classmethod
    def resolve(cls: type[P], params: P | None = None, **changes: Any) -> P:
        """`params` (default: the dataclass defaults) with single values changed: the one way a
        core function turns its `params=None, **changes` arguments into the values it runs with."""
        base = cls() if params is None else params
        if not isinstance(base, cls):
            raise TypeError(f"expected {cls.__name__}, got {type(base).__name__}")
        return base.replace(**changes) if changes else base

    def replace(self: P, **changes: Any) -> P:
        """A copy with some values changed (validated like a new object)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    def changed(self) -> dict[str, Any]:
        """The values that differ from the defaults (for short log lines)."""
        base = type(self)()
        return {k: v for k, v in self.to_dict().items() if v != getattr(base, k) and not (
            isinstance(v, list) and tuple(v) == getattr(base, k))}  # fmt: skip

    # --- command line -----------------------------------------------------------------------
    @classmethod
    def add_arguments(
        cls,
        parser: argparse.ArgumentParser,
        *,
        exclude: tuple[str, ...] = (),
        title: str | None = None,
    ) -> None:
        """Add one option per field (defaults stay in the dataclass: parsed default is None)."""
        group = parser.add_argument_group(title or f"{cls.step or cls.__name__} parameters")
        for info in cls.fields():
            if info.name in exclude or info.option is None:
                continue
            help_text = info.meta.get("help", "")
            unit = info.meta.get("unit")
            shown = info.default if not isinstance(info.default, tuple) else ",".join(
                map(str, info.default))  # fmt: skip
            help_text = f"{help_text}{' (' + unit + ')' if unit else ''} [default: {shown}]"
            help_text = help_text.replace("%", "%%")  # argparse formats help with %
            dest = info.name
            if info.kind is bool:
                group.add_argument(
                    info.option,
                    dest=dest,
                    action=argparse.BooleanOptionalAction,
                    default=None,
                    help=help_text,
                )
                continue
            group.add_argument(
                info.option,
                dest=dest,
                type=_cli_parser(info),
                default=None,
                choices=None,  # checked in _cli_parser so messages name the option
                metavar=_metavar(info),
                help=help_text,
            )

    @classmethod
    def from_args(cls: type[P], args: argparse.Namespace, **overrides: Any) -> P:
        """The dataclass from parsed options: fields the user gave, else `overrides`, else defaults."""
        values: dict[str, Any] = dict(overrides)
        for info in cls.fields():
            given = getattr(args, info.name, None)
            if given is not None and info.option is not None:
                values[info.name] = None if given is NONE_GIVEN else given
        return cls(**values)


class _NoneGiven:
    """An optional option given as "none" on the command line (argparse's own None means the
    option was not given at all, which keeps the default: `--seed none` used to run seed 0)."""

    def __repr__(self) -> str:
        return "none"


NONE_GIVEN = _NoneGiven()

_TRUE, _FALSE = ("true", "yes", "y", "on", "1"), ("false", "no", "n", "off", "0")


def _from_text(info: FieldInfo, text: str) -> Any:
    """A yes/no or number field given as text (a batch manifest's CSV cell): its value, or one
    clear line. "False" used to be kept as a string, which is true, and a number as text failed
    mid-batch instead of when the manifest was read."""
    name, word = info.option or info.name, text.strip().lower()
    custom = info.meta.get("parse")
    if custom is not None:  # its own grammar (`patch_px: auto`)
        try:
            value = custom(text)
        except ValueError:
            raise InputError(f"{name} cannot be {text!r}: {info.meta.get('help', '')}") from None
        return None if value is NONE_GIVEN else value
    if info.kind is bool:
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise InputError(f"{name} must be true or false; got {text!r}")
    try:
        number = float(word)
    except ValueError:
        raise InputError(f"{name} must be a number; got {text!r}") from None
    if info.kind is int:
        if not number.is_integer():
            raise InputError(f"{name} must be a whole number; got {text!r}")
        return int(number)
    return number


def _metavar(info: FieldInfo) -> str:
    if info.choices:
        return "{" + ",".join(map(str, info.choices)) + "}"
    return {int: "N", float: "X", tuple: "A,B"}.get(info.kind, "TEXT")


def _cli_parser(info: FieldInfo) -> typing.Callable[[str], Any]:
    """str -> value with range/choice checks, so bad options fail before any work starts."""
    custom = info.meta.get("parse")

    def parse(text: str) -> Any:
        try:
            if custom is not None:
                value = custom(text)
            elif info.optional and text.lower() in ("none", ""):
                return NONE_GIVEN  # not None: argparse's None means "option not given"
            elif info.kind is int:
                value = int(text)
            elif info.kind is float:
                value = float(text)
            elif info.kind is tuple:
                value = tuple(float(t) for t in text.split(","))
            elif info.choices and isinstance(info.choices[0], int):
                value = int(text)
            else:
                value = text
        except ValueError:
            if custom is not None:  # its own grammar (e.g. "auto", "none" or a number): say it
                raise argparse.ArgumentTypeError(
                    f"{info.option} cannot be {text!r}: {info.meta.get('help', '')}"
                ) from None
            what = {int: "a whole number", float: "a number", tuple: "numbers A,B"}.get(
                info.kind, info.kind.__name__
            )  # was "expected float for --size-ratio": Python's type names
            raise argparse.ArgumentTypeError(
                f"{info.option} must be {what}, got {text!r}"
            ) from None
        if info.choices is not None and value not in info.choices:
            raise argparse.ArgumentTypeError(
                f"{info.option} must be one of {', '.join(map(str, info.choices))}, got {text!r}"
            )
        lo, hi = info.meta.get("minimum"), info.meta.get("maximum")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if value != value:  # NaN: with no bounds it said "must be , got 'nan'"
                raise argparse.ArgumentTypeError(f"{info.option} must be a number, got {text!r}")
            if value in (math.inf, -math.inf):  # passed a one-sided bound, then failed deep in
                raise argparse.ArgumentTypeError(  # a step (int(inf): a traceback)
                    f"{info.option} must be a finite number, got {text!r}"
                )
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                bounds = " and ".join(
                    s for s in (f">= {lo}" if lo is not None else "", f"<= {hi}" if hi is not None else "") if s
                )  # fmt: skip
                why = _why(info) if hi is not None and value > hi else ""
                raise argparse.ArgumentTypeError(
                    f"{info.option} must be {bounds}, got {text!r}{why}"
                )
        return value

    parse.__name__ = info.option or info.name  # argparse names the type in its messages
    return parse


def _why(info: FieldInfo) -> str:
    """': <why the maximum>' for a refused value, when the field says it."""
    why = info.meta.get("maximum_why")
    return f": {why}" if why else ""


def params_class(step: str) -> type[StepParams] | None:
    """The parameter class registered for a session step name (None when it has none)."""
    return _REGISTRY.get(step)


def auto_or_float(text: str) -> float | str:
    """Option text "auto" stays "auto"; anything else must be a number."""
    return "auto" if text.strip().lower() == "auto" else float(text)
