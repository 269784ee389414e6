"""A conditional prior's classes: their names, and a visitor's choice of one as the index the prior takes."""

from .catalog import has_prior
from .errors import UserError


def class_names(model) -> list[str]:
    return list(model.config.get("class_names") or []) if has_prior(model) and model.prior.cfg.num_classes else []


def label_id(model, label) -> int | None:
    """A class name (or its index) → index; None or "" → unconditional."""
    names = class_names(model)
    if label in (None, "") or not names:
        return None
    if isinstance(label, str) and label in names:
        return names.index(label)
    try:
        i = int(label)
    except (TypeError, ValueError):
        raise UserError("unknown_class", label=str(label)[:40], choices=names) from None
    if not 0 <= i < len(names):
        raise UserError("class_out_of_range", index=i, last=len(names) - 1)
    return i
