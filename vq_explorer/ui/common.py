"""What every tab shares: turning arrays into served PNG files, and turning errors into messages."""

import functools
import inspect
import logging
import os
import tempfile
import time
import traceback
from pathlib import Path

import gradio as gr
from PIL import Image

from ..explorer import UserError

log = logging.getLogger("vq_explorer.ui")
_TMP = Path(tempfile.mkdtemp(prefix="vq-explorer-"))
_last_prune = [0.0]


def png(array) -> str:
    """Write an image to a unique temporary PNG and return its path. Gradio copies such files into its cache
    atomically; returning arrays instead races when concurrent requests carry the same image."""
    fd, path = tempfile.mkstemp(suffix=".png", dir=_TMP)
    with os.fdopen(fd, "wb") as f:
        Image.fromarray(array).save(f, format="PNG")
    if time.time() - _last_prune[0] > 60:   # keep the folder small on a long-running Space
        _last_prune[0] = time.time()
        for p in _TMP.glob("*.png"):
            if time.time() - p.stat().st_mtime > 900:
                p.unlink(missing_ok=True)
    return path


def _message(e: Exception) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, UserError):
        return gr.Error(str(e))
    log.error("handler failed:\n%s", traceback.format_exc())
    return gr.Error(f"Something went wrong on the server ({type(e).__name__}); the app is still running. "
                    "Please try again or choose other inputs.")


def guarded(fn):
    """Run a handler so that a user only ever sees a clear message: UserError as written, anything else as a
    short apology (the traceback goes to the server log)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the point is to catch everything
                raise _message(e) from None
        return gen

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001
            raise _message(e) from None
    return wrapper
