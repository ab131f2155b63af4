"""A class found by its name, with the one refusal every door gives for a name it cannot use.

The command line (``label``, ``review``, ``classes``, CSV imports) and the API (single- and multi-label
labels) all say the same thing, naming the field and listing what the user could have said.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from labelwise.errors import LabelwiseError
from labelwise.store.models import LabelClass


def class_named(
    session: Session,
    name: str,
    *,
    field: str = "label",
    retired_ok: bool = False,
    error: type[LabelwiseError] = LabelwiseError,
) -> LabelClass:
    """The class called ``name``. Refuses (raising ``error``, naming ``field``) an unknown name and,
    unless ``retired_ok`` (fixing the class list reaches retired classes too), a retired class; the
    message lists the classes that would have been accepted."""
    cls = session.scalar(select(LabelClass).where(LabelClass.name == name))
    if cls is not None and (retired_ok or not cls.retired):
        return cls
    accepted = select(LabelClass.name).order_by(LabelClass.position)
    if not retired_ok:
        accepted = accepted.where(LabelClass.retired.is_(False))
    known = ", ".join(session.scalars(accepted)) or "none yet"
    why = "unknown class" if cls is None else "class is retired:"
    raise error(f"{field}: {why} {name!r}; the classes are: {known}")
