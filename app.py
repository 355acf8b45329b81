"""MAML Playground: `python app.py` builds the Gradio app and serves it.

GRADIO_SERVER_NAME and GRADIO_SERVER_PORT choose the address (Gradio reads them), so the same
file serves a laptop and Hugging Face Spaces. The serving options live in demo/serving.py.
"""
from demo import build_app, serve

if __name__ == "__main__":
    serve(build_app())
