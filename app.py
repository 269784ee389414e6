"""Gradio entry point (Hugging Face Spaces `app_file`): builds the explorer and launches it.

GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose the address (Gradio reads them itself)."""

from vq_explorer.ui import MAX_FILE_SIZE, build_demo

demo = build_demo()

if __name__ == "__main__":
    demo.launch(max_file_size=MAX_FILE_SIZE)
