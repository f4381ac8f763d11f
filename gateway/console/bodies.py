"""The bodies the console's API takes, each checked field by field (a bad one names its field):
the login, and each operator command's, built from its definition (gateway.domain.commands)."""

# No "from __future__ import annotations": pydantic and FastAPI read the annotations at run time.

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, create_model

from gateway.domain.commands import COMMANDS, Arg, ArgKind

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Required = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginBody(Body):
    username: Name
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


def _field(arg: Arg) -> tuple[Any, Any]:
    """An argument as a field: (type, default)."""
    kind = arg.kind
    if kind is ArgKind.ID:
        return (Name, ...) if arg.required else (Name | None, None)
    if kind is ArgKind.TEXT:
        return (Required, ...) if arg.required else (Text, "")
    if kind is ArgKind.SHORT:
        short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=int(arg.limit))]
        return (short, ...) if arg.required else (short, "")
    if kind is ArgKind.CHOICE:
        return (Literal[arg.choices], ...)
    if kind is ArgKind.FLAG:
        return (StrictBool, False)  # true or false: "yes" is not a yes
    if kind is ArgKind.MINUTES:
        return (float, Field(float(arg.default), ge=1, le=arg.limit))
    item = Annotated[str, StringConstraints(max_length=80)]
    return (list[item], Field(default_factory=list, max_length=int(arg.limit)))


def body_of(verb: str, *, in_path: tuple[str, ...] = ()) -> type[Body]:
    """The body of a command, its fields those of the command's arguments (less those the
    route's path gives)."""
    definition = COMMANDS[verb]
    fields: dict[str, Any] = {a.name: _field(a) for a in definition.args
                              if a.name not in in_path}
    model: type[Body] = create_model(f"{verb.title().replace('_', '')}Body", __base__=Body,
                                     **fields)
    return model


def command_args(body: Body) -> dict[str, str]:
    """A body's fields as a command's arguments (text; a flag "yes" or empty; a list joined
    with commas)."""
    out = {}
    for name, value in body.model_dump().items():
        if isinstance(value, bool):
            out[name] = "yes" if value else ""
        elif isinstance(value, list):
            out[name] = ",".join(value)
        elif value is None:
            out[name] = ""
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))
        else:
            out[name] = str(value)
    return out
