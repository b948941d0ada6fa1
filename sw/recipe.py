"""TOML training recipes: defaults, a file over them, ``--set`` overrides over that.

One rule for every training command (``sw.train``, ``sw.gantrain``): a recipe is a table of
sections of keys; a file or an override may only name keys the defaults have, and each value
must be of the default's kind (an integer where the default is an integer, a number where it
is a float, a list where it is a list; a default of ``None`` takes anything). The error names
the key, as ``unknown recipe key 'train.speed'`` or ``recipe key train.epochs is 'ten'; it must
be an integer``.
"""

from __future__ import annotations

import copy
import tomllib

__all__ = ["kind_error", "merge", "load", "parse_value", "parse_override"]


def kind_error(default, value) -> str | None:
    """What ``value`` must be to replace ``default``, or None when it may."""
    if default is None:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, int):
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(default, list):
        return None if isinstance(value, list) else "a list, e.g. [256]"
    return None


def merge(base: dict, over: dict, where: str = "") -> dict:
    """A copy of ``base`` with the values of ``over`` (nested dicts of the same keys).

    Raises ValueError naming an unknown key, a table given a value, or a value of the wrong
    kind. An integer given for a float default becomes a float."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if key not in base:
            raise ValueError(f"unknown recipe key '{where}{key}'; known keys: "
                             f"{', '.join(sorted(base))}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"recipe key {where}{key} must be a table")
            out[key] = merge(base[key], value, f"{where}{key}.")
            continue
        kind = kind_error(base[key], value)
        if kind:
            raise ValueError(f"recipe key {where}{key} is {value!r}; it must be {kind}")
        out[key] = float(value) if isinstance(base[key], float) else value
    return out


def load(defaults: dict, path=None, overrides: dict | None = None) -> dict:
    """``defaults`` updated by the TOML file ``path`` and then by ``overrides``.

    Raises ValueError for a file that is not TOML (naming the file) and for what
    :func:`merge` refuses (naming the file and the key)."""
    config = copy.deepcopy(defaults)
    if path:
        with open(path, "rb") as file:
            try:
                recipe = tomllib.load(file)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{path} is not valid TOML: {error}") from None
        try:
            config = merge(config, recipe)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
    if overrides:
        config = merge(config, overrides)
    return config


def parse_value(text: str):
    """A ``--set`` value: TOML (``[128]``, ``0.5``, ``true``, ``"rate"``), else the text as a
    string (``--set network.encoder=rate``)."""
    text = text.strip()
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_override(text: str, example: str = "train.epochs=10") -> dict:
    """``SECTION.KEY=VALUE`` as ``{SECTION: {KEY: value}}`` (:func:`parse_value`).

    Raises ValueError naming the text and showing ``example`` when it is not of that form."""
    key, sep, value = text.partition("=")
    section, dot, name = key.strip().partition(".")
    if not sep or not dot or not section or not name:
        raise ValueError(f"{text!r}: write SECTION.KEY=VALUE, e.g. {example}")
    return {section: {name: parse_value(value)}}
