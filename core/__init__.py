"""MAML Playground's engine: tasks, models, the inner loop, meta-gradients, training, evaluation.

Uses torch and numpy only; the UI lives in `demo/`.
"""
