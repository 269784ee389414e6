"""Gradio entry point (Hugging Face Spaces `app_file`): builds the explorer and launches it.

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address (Gradio reads them itself); VQE_MAX_SESSIONS bounds
the sessions whose state the server keeps (default 500), VQE_CACHE_MAX_AGE the seconds a returned file is kept
(default 1800)."""

import ctypes
import os

import torch

from vq_explorer.ui import LAUNCH, build_demo

# Once, at start-up: two compute threads per request. Gradio runs two requests at a time, and on a small
# machine (a free Space has 2 vCPUs) more threads per request only fight each other.
torch.set_num_threads(max(1, min(torch.get_num_threads(), 2)))


def limit_malloc_arenas(arenas: int = 2):
    """glibc gives threads their own heaps (up to 8 per core); spread over Gradio's worker threads, freed memory
    fragments and the server's resident memory creeps up under load. Two arenas kept it nearly flat
    (benchmarks/load.py). Must run before the worker threads start; a no-op off glibc or when
    MALLOC_ARENA_MAX is already set."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, arenas)   # -8 = M_ARENA_MAX
    except (OSError, AttributeError):
        pass


demo = build_demo()

if __name__ == "__main__":
    limit_malloc_arenas()
    demo.launch(**LAUNCH)
