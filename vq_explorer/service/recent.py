"""The model inputs of recent reconstructions, kept by a token: a click on the quantization maps or a request for
the picture as a file is answered from them, so a visitor's session holds only the token. A bounded store on the
server; the oldest go first."""

import secrets
import threading
from collections import OrderedDict

import torch

from .errors import UserError

KEEP = 64
_RECENT, _LOCK = OrderedDict(), threading.Lock()


def remember_input(name: str, x: torch.Tensor) -> str:
    """Keep model `name`'s input x; the token that recalls it."""
    token = secrets.token_hex(8)
    with _LOCK:
        _RECENT[token] = (name, x.detach().cpu().clone())
        while len(_RECENT) > KEEP:
            _RECENT.popitem(last=False)
    return token


def recall_input(token) -> tuple[str, torch.Tensor]:
    """(the model's name, the input) a token was given for; a UserError once it has been forgotten."""
    with _LOCK:
        if token not in _RECENT:
            raise UserError("reconstruction_forgotten")
        return _RECENT[token]
