"""The contracts the code is built on: the model Protocol, the registry, BatchNorm's definition, batch
independence of Conv4's queries, the message catalogue and the limits table."""
from __future__ import annotations

import ast
from pathlib import Path

import gradio as gr
import pytest
import torch
import torch.nn.functional as F

from core.blackbox import BlackBoxRegressor
from core.models import BatchStatNorm, Conv4, MetaModel, SinusoidMLP, predict
from core.registry import ALGORITHMS, build_model, default_model, inner_config
from demo.limits import LIMITS
from demo.messages import MESSAGES, text
from tests.helpers import pattern_episodes, tiny_conv

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("model", [SinusoidMLP(), Conv4(filters=4), BlackBoxRegressor(width=8, heads=2, layers=1)],
                         ids=lambda m: type(m).__name__)
def test_every_model_meets_the_protocol_and_rebuilds_from_its_spec(model):
    assert isinstance(model, MetaModel)
    rebuilt = build_model(model.spec())
    assert type(rebuilt) is type(model) and rebuilt.spec() == model.spec()


def test_the_registry_names_each_algorithms_inner_loop():
    maml, fomaml, anil = (inner_config(name, 0.1, 3) for name in ("maml", "fomaml", "anil"))
    assert not maml.first_order and maml.adapts("body.0.weight") and maml.steps == 3
    assert fomaml.first_order and fomaml.adapts("body.0.weight")
    assert not anil.first_order and anil.adapts("head.weight") and not anil.adapts("body.0.weight")
    blackbox = inner_config("blackbox", 0.1, 3)
    assert blackbox.steps == 0 and not blackbox.adapts("head.weight")
    assert isinstance(default_model("sinusoid", "blackbox"), BlackBoxRegressor)
    assert isinstance(default_model("omniglot", "maml"), Conv4)
    with pytest.raises(ValueError, match="blackbox is for the sinusoid task"):
        default_model("omniglot", "blackbox")
    with pytest.raises(ValueError, match="unknown algorithm 'mamal'"):
        inner_config("mamal", 0.1, 1)
    with pytest.raises(ValueError, match="unknown model 'ResNet'"):
        build_model({"name": "ResNet"})
    assert set(ALGORITHMS) == {"maml", "fomaml", "anil", "reptile", "pretrained", "blackbox"}


def test_batch_stat_norm_is_batch_norm_with_batch_statistics():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(7, 5, 6, 6, generator=gen, dtype=torch.float64)
    norm = BatchStatNorm(5).double()
    with torch.no_grad():
        norm.weight.copy_(torch.randn(5, generator=gen))
        norm.bias.copy_(torch.randn(5, generator=gen))
    expected = F.batch_norm(x, None, None, norm.weight, norm.bias, training=True, eps=norm.eps)
    torch.testing.assert_close(norm(x), expected, rtol=1e-12, atol=1e-12)
    # with a context, the moments are the first rows' and apply to all rows
    context = F.batch_norm(x[:3], None, None, norm.weight, norm.bias, training=True, eps=norm.eps)
    torch.testing.assert_close(norm(x, context_size=3)[:3], context, rtol=1e-12, atol=1e-12)
    mean = x[:3].mean(dim=(0, 2, 3), keepdim=True)
    var = x[:3].var(dim=(0, 2, 3), unbiased=False, keepdim=True)
    by_hand = (x[3:] - mean) / torch.sqrt(var + norm.eps) * norm.weight.view(1, -1, 1, 1) + norm.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(norm(x, context_size=3)[3:], by_hand, rtol=1e-12, atol=1e-12)


def test_a_conv4_query_prediction_does_not_depend_on_the_other_queries():
    model, theta = tiny_conv()
    task = pattern_episodes(tasks=1, ways=3, shots=2, queries=4)[0]
    phi = model.task_params(theta, 3)
    phi["head.weight"] = torch.randn(phi["head.weight"].shape, generator=torch.Generator().manual_seed(1),
                                     dtype=torch.float64)  # away from zero, so the logits differ
    together = predict(model, phi, task.x_query, context=task.x_support)
    for i in range(len(task.x_query)):
        alone = predict(model, phi, task.x_query[i:i + 1], context=task.x_support)
        torch.testing.assert_close(alone, together[i:i + 1], rtol=1e-10, atol=1e-12)
    others = task.x_query.clone()
    others[1:] = torch.rand(others[1:].shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(predict(model, phi, others, context=task.x_support)[0], together[0],
                               rtol=1e-10, atol=1e-12)
    # without the support as context, the moments would come from the queries themselves
    assert not torch.allclose(predict(model, phi, others)[0], together[0])


def _message_keys_used() -> set[str]:
    """Every literal key passed to text(...) or Problem(...) in demo/."""
    keys = set()
    for path in (ROOT / "demo").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("text", "Problem") and node.args
                    and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
                keys.add(node.args[0].value)
    return keys


def test_every_message_the_ui_asks_for_is_in_the_catalogue():
    used = _message_keys_used()
    assert len(used) > 100 and used <= set(MESSAGES), sorted(used - set(MESSAGES))
    assert all("en" in entry for entry in MESSAGES.values())
    for algorithm in ALGORITHMS:  # labels looked up by key
        assert text(f"algorithm.{algorithm}")
    for key in LIMITS:
        assert f"{key}.label" in MESSAGES, key


def test_every_slider_offers_exactly_the_range_its_handler_accepts():
    from demo import build_app
    from demo.common import checked_number
    from demo.messages import Problem

    app = build_app()
    sliders = {block.elem_id: block for block in app.blocks.values() if isinstance(block, gr.Slider)}
    checked = 0
    for key, limit in LIMITS.items():
        if key in ("sinusoid.replay", "characters.replay", "sinusoid.seed", "gradients.seed", "metatrain.seed"):
            continue  # the replay slider's range follows the finished run; a seed is a number box
        slider = sliders[key.replace(".", "-")]
        checked += 1
        assert (slider.minimum, slider.maximum) == (limit.low, limit.high), key
        assert checked_number(limit.high, key) == limit.high and checked_number(limit.low, key) == limit.low
        for outside in (limit.low - limit.step, limit.high + limit.step):
            with pytest.raises(Problem, match="must be between"):
                checked_number(outside, key)
    assert checked == len(LIMITS) - 5
