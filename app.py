"""Gradio entry point (Hugging Face Spaces `app_file`): builds the explorer on checkpoints/ and launches it.

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address (Gradio reads them itself); the other settings are
vq_explorer/commands/serve.py's (VQE_CHECKPOINTS, VQE_DEVICE, VQE_MAX_SESSIONS, VQE_CACHE_MAX_AGE).
Installed, the same app is `vq-explorer --checkpoints DIR`."""

from vq_explorer.commands.serve import limit_malloc_arenas, limit_threads
from vq_explorer.ui import LAUNCH, build_demo

limit_threads()   # once, at start-up
demo = build_demo()

if __name__ == "__main__":
    limit_malloc_arenas()
    demo.launch(**LAUNCH)
