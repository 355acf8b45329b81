"""CUDA checks: the same code on the GPU gives the CPU's numbers. Skipped without a GPU."""
from __future__ import annotations

import pytest
import torch

from core.device import generator, measure_peak_memory
from core.inner import InnerConfig
from core.meta import meta_gradient
from core.omniglot import CLASS_AUGMENT, augment_episodes
from core.trace import trace_records
from tests.helpers import pattern_episodes, sinusoid_batch, tiny_conv, tiny_mlp

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
CUDA = torch.device("cuda")


@pytest.mark.parametrize("algorithm", ["maml", "fomaml", "anil", "reptile"])
@pytest.mark.parametrize("strategy", ["loop", "vmap", "vmap:2"])
def test_cuda_meta_gradient_equals_cpu_in_float64(algorithm, strategy):
    for (model, theta), batch, lr in ((tiny_mlp(), sinusoid_batch(tasks=3), 0.05),
                                      (tiny_conv(), pattern_episodes(tasks=3), 0.4)):
        cpu = meta_gradient(model, theta, batch, algorithm, lr, 3, strategy).grads
        gpu = meta_gradient(model.to(CUDA), {k: v.to(CUDA) for k, v in theta.items()}, batch.to(CUDA),
                            algorithm, lr, 3, strategy).grads
        for key in cpu:
            torch.testing.assert_close(gpu[key].cpu(), cpu[key], rtol=1e-9, atol=1e-10)


def test_cuda_trace_and_memory_measurement():
    model, theta = tiny_conv()
    model = model.to(CUDA)
    theta = {k: v.to(CUDA) for k, v in theta.items()}
    task = pattern_episodes(tasks=1)[0].to(CUDA)
    records = list(trace_records(model, theta, task, InnerConfig(0.4, 3)))
    assert len(records) == 4 and all(r.wall_time_s > 0 for r in records[1:])
    assert records[-1].support_loss < records[0].support_loss
    _, peak = measure_peak_memory(lambda: meta_gradient(model, theta, pattern_episodes(tasks=2).to(CUDA),
                                                        "maml", 0.4, 2, "vmap"), CUDA)
    assert peak > 0


def test_cuda_class_augment_equals_cpu():
    batch = pattern_episodes(tasks=3)
    cpu = augment_episodes(batch, CLASS_AUGMENT, generator(0))
    gpu = augment_episodes(batch.to(CUDA), CLASS_AUGMENT, generator(0))
    torch.testing.assert_close(gpu.x_support.cpu(), cpu.x_support)
    torch.testing.assert_close(gpu.x_query.cpu(), cpu.x_query)


def test_cuda_imaml_batched_over_tasks_equals_cpu():
    from core.compare import imaml_gradient

    model, theta = tiny_mlp()
    batch = sinusoid_batch(tasks=3)
    cpu = imaml_gradient(model, theta, batch, 0.05, 3, cg_steps=20, strategy="vmap")
    gpu = imaml_gradient(model.to(CUDA), {k: v.to(CUDA) for k, v in theta.items()}, batch.to(CUDA), 0.05, 3,
                         cg_steps=20, strategy="vmap")
    for key in cpu:
        torch.testing.assert_close(gpu[key].cpu(), cpu[key], rtol=1e-9, atol=1e-10)


def test_cuda_meta_train_tab_trains_conv4_on_characters(tmp_path):
    from demo.data import OmniglotImages
    from demo.store import CheckpointStore
    from demo.tabs import metatrain
    from tests.demo_fixtures import make_assets
    from tests.omniglot_fixtures import write_characters

    store = CheckpointStore(make_assets(tmp_path / "assets"), CUDA)
    folder = write_characters(tmp_path / "images_background", alphabets=("Alpha", "Beta", "Gamma", "Delta"), drawers=6)
    omniglot = OmniglotImages(sources=[folder], cache=tmp_path / "cache")
    updates = list(metatrain.meta_train_handler(store, "fomaml", "anil", 4, 0.01, 0.001, 2, 50, 0, "omniglot",
                                                omniglot=omniglot))
    status, _, _, accuracy, trained = updates[-1]
    assert "Iteration 50 of 50" in status and "CUDA" in status and len(accuracy.data) == 2
    assert trained["config"]["task"] == "omniglot"
