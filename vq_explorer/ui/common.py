"""What every tab shares: turning arrays into served PNG files, and turning errors into messages."""

import base64
import functools
import inspect
import io
import logging
import os
import re
import tempfile
import time
import traceback
from pathlib import Path

import gradio as gr
from PIL import Image

from ..messages import error_text
from ..service import UserError

log = logging.getLogger("vq_explorer.ui")
_TMP = Path(tempfile.mkdtemp(prefix="vq-explorer-"))
_last_prune = [0.0]
# Files here are handed to Gradio, which copies them into its own cache: 15 minutes is ample, and a shorter
# VQE_CACHE_MAX_AGE (how long Gradio's copies are kept) shortens it too.
TEMP_MAX_AGE = min(900, int(os.environ.get("VQE_CACHE_MAX_AGE", 1800)))


def temp_file(suffix: str, prefix: str = "") -> str:
    """A new empty file in the app's temporary folder, which is swept of files older than TEMP_MAX_AGE seconds
    (so a long-running Space does not fill its disk)."""
    fd, path = tempfile.mkstemp(suffix=suffix, prefix=prefix, dir=_TMP)
    os.close(fd)
    if time.time() - _last_prune[0] > min(60, TEMP_MAX_AGE / 3):
        _last_prune[0] = time.time()
        for p in _TMP.iterdir():
            try:
                if time.time() - p.stat().st_mtime > TEMP_MAX_AGE:
                    p.unlink(missing_ok=True)
            except FileNotFoundError:   # another thread swept it first
                pass
    return path


def png(array) -> str:
    """Write an image to a unique temporary PNG and return its path. Gradio copies such files into its cache
    atomically; returning arrays instead races when concurrent requests carry the same image."""
    path = temp_file(".png")
    Image.fromarray(array).save(path, format="PNG", compress_level=1)   # fast: most are sent once, at once
    return path


def _message(e: Exception) -> gr.Error:
    if isinstance(e, gr.Error):
        return e
    if isinstance(e, UserError):
        error = gr.Error(error_text(e))
        error.code, error.params = e.code, e.params   # what went wrong, for a caller that should not parse English
        return error
    log.error("handler failed:\n%s", traceback.format_exc())
    return gr.Error(f"Something went wrong on the server ({type(e).__name__}); the app is still running. "
                    "Please try again or choose other inputs.")


def guarded(fn):
    """Run a handler so that a user only ever sees a clear message: UserError in the words of messages.py,
    anything else as a short apology (the traceback goes to the server log)."""
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


STATE_CLASS = "vqe-"   # the prefix of a state's class, apart from Gradio's own classes ("pending", "hidden")


def status(text: str, *states: str) -> dict:
    """A status text for a Markdown component, and the state it reports for whoever watches the page rather
    than reads it (the browser tests, a script): set on the component itself as classes (`vqe-done`,
    `vqe-step-4`, `vqe-model-mnist`), never written into the words a visitor reads. Gradio 6 replaces the
    component's classes on every update, streamed ones too, so a watcher waits on `#sample-status.vqe-done` and
    rewording a status breaks nothing. Every value a status component is given comes through here: a bare
    string would leave the previous state's classes on it. `gr.update` is a plain dict, so a test reads the
    words as `["value"]` and the state as `["elem_classes"]`; gradio_client gets the words alone
    (`api_endpoint`)."""
    return gr.update(value=text, elem_classes=[STATE_CLASS + re.sub(r"[^A-Za-z0-9]+", "-", s) for s in states])


def _words_of(value):
    is_status = isinstance(value, dict) and value.get("__type__") == "update" and "elem_classes" in value
    return value["value"] if is_status else value


def words_only(fn):
    """`fn` for gradio_client: each status it returns comes back as its words alone, a string, as the API has
    always given it (gradio_client would hand over the whole update; the classes are for the page)."""
    def plain(out):
        return type(out)(map(_words_of, out)) if isinstance(out, (tuple, list)) else _words_of(out)
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            for out in fn(*args, **kwargs):
                yield plain(out)
        return stream

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return plain(fn(*args, **kwargs))
    return wrapper


def api_endpoint(fn, inputs, outputs, api_name: str, **kwargs):
    """The endpoint `api_name` for gradio_client, beside a tab's own event on the same handler (a button never
    shown): the same outputs, each status as its words alone."""
    return gr.Button(visible=False).click(words_only(fn), inputs, outputs, api_name=api_name, **kwargs)


def model_state(name: str) -> str:
    """The state naming which checkpoint a view shows (`model-mnist`, `model-cifar10-maskgit`)."""
    return "model-" + str(name).removesuffix(".safetensors")


def data_url(array) -> str:
    """A small picture inline, as a PNG data URL: for the painter's fast path, which sends no files."""
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def user_message(e: Exception) -> str:
    return _message(e).message


def bind(catalog, fn):
    """`fn(catalog, *inputs)` as a Gradio handler of the inputs alone. Gradio reads what it is given (its
    signature for event data, generator or not for streaming), so the wrapper is the same kind of function
    and shows fn's signature without the first parameter."""
    if inspect.isgeneratorfunction(fn):
        def bound(*args, **kwargs):
            yield from fn(catalog, *args, **kwargs)
    else:
        def bound(*args, **kwargs):
            return fn(catalog, *args, **kwargs)
    functools.update_wrapper(bound, fn)
    del bound.__wrapped__
    sig = inspect.signature(fn)
    bound.__signature__ = sig.replace(parameters=list(sig.parameters.values())[1:])
    return bound
