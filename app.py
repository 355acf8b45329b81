"""MAML Playground: `python app.py` builds the Gradio app and serves it.

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose the address (Gradio reads them), so the same
file serves a laptop and Hugging Face Spaces.
"""
from demo import CSS, THEME, build_app

if __name__ == "__main__":
    build_app().queue(default_concurrency_limit=4).launch(theme=THEME, css=CSS, show_error=True)
