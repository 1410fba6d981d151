"""A form for a training family's parameters, drawn from the same pydantic model the gateway validates with."""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

import streamlit as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from shared.families import FAMILIES
from shared.training_params import CommonParams

COLUMNS = 3


@dataclass
class FormResult:
    """The values as typed, those that differ from the defaults (what is sent), and errors by field."""

    values: dict[str, Any]
    changed: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    general_errors: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors and not self.general_errors


def _optional(annotation: Any) -> tuple[Any, bool]:
    """`X | None` -> (X, True); anything else -> (annotation, False)."""
    if get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _widget(name: str, info: FieldInfo, key: str) -> Any:
    annotation, optional = _optional(info.annotation)
    default = info.get_default(call_default_factory=True)
    label = name.replace("_", " ")
    help_text = info.description
    if annotation is bool:
        return st.checkbox(label, value=bool(default), key=key, help=help_text)
    if get_origin(annotation) is Literal:
        options = list(get_args(annotation))
        return st.selectbox(label, options, index=options.index(default), key=key, help=help_text)
    if get_origin(annotation) is list and get_origin(get_args(annotation)[0]) is Literal:
        return st.multiselect(label, list(get_args(get_args(annotation)[0])), default=default, key=key, help=help_text)
    if get_origin(annotation) is dict:
        typed = st.text_input(f"{label} (JSON)", value=json.dumps(default), key=key, help=help_text)
        try:
            return json.loads(typed.strip() or "{}")
        except ValueError:
            return typed  # not JSON: the model's validation below says what it expected
    if annotation is int:
        # No min/max on the widget: the model's bounds are checked below, with the gateway's own message.
        return st.number_input(label, value=default, step=1, key=key, help=help_text, placeholder="default")
    if annotation is float:
        return st.number_input(label, value=float(default), step=None, format="%g", key=key, help=help_text)
    typed = st.text_input(label, value="" if default is None else str(default), key=key, help=help_text)
    return (typed.strip() or None) if optional else typed


def params_form(family: str, key_prefix: str = "train") -> FormResult:
    """Draw one widget per parameter, then validate all of them and write each error under its own widget."""
    model: type[CommonParams] = FAMILIES[family].params
    values: dict[str, Any] = {}
    slots = {}
    columns = st.columns(COLUMNS)
    for index, (name, info) in enumerate(model.model_fields.items()):
        with columns[index % COLUMNS]:
            values[name] = _widget(name, info, f"{key_prefix}_{family}_{name}")
            slots[name] = st.empty()
    defaults = {name: info.get_default(call_default_factory=True) for name, info in model.model_fields.items()}
    result = FormResult(values=values, changed={k: v for k, v in values.items() if v != defaults[k]})
    try:
        model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            where = str(error["loc"][0]) if error["loc"] else ""
            if where in slots:
                result.errors[where] = message
                slots[where].error(message, icon=":material/edit:")
            else:
                result.general_errors.append(f"{where}: {message}" if where else message)
    return result
