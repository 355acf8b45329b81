"""MAML Playground entry point.

The Gradio UI arrives with the app issue; until then `python app.py` runs the training demo:
a short sinusoid MAML meta-training run, then the query error of fresh tasks per inner step.
"""
import sys

from core import evaluate, train

if __name__ == "__main__":
    out = "runs/demo_sinusoid_maml.pt"
    code = train.main(["--task", "sinusoid", "--algo", "maml", "--iterations", "2000", "--validate-every", "500",
                       "--out", out])
    sys.exit(code or evaluate.main(["--checkpoint", out, "--sinusoid-sample", "200", "--support", "10", "--steps", "10"]))
