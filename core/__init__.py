"""MAML Playground's engine: tasks, models, the inner loop, meta-gradients, training, evaluation.

Depends on torch, numpy and Pillow only (torchvision is imported only to download Omniglot);
never on gradio or plotly. The UI lives in `demo/`.
"""
