"""The command lines (train, evaluate, benchmark) and the import boundary of core/."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core import evaluate, train
from core.checkpoints import card_path, load_checkpoint, sha256_of
from core.models import predict
from tests.demo_fixtures import free_port

ROOT = Path(__file__).resolve().parents[1]


def test_import_core_leaves_gradio_and_plotly_unimported():
    code = ("import sys, core, core.tasks, core.models, core.inner, core.meta, core.train, core.evaluate, "
            "core.omniglot, core.checkpoints, core.device; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'plotly')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# builds the app, serves it, and reports which of torch and the engine had loaded at each point
SERVE_BEFORE_TORCH = """
import os, sys, urllib.request
import demo
from demo.serving import PROCESS
loaded = lambda: sorted(m for m in ("torch", "core.trace", "core.compare", "core.training") if m in sys.modules)
app = demo.build_app()
print("built:", loaded())
demo.serve(app, prevent_thread_lock=True)
print("served:", urllib.request.urlopen(app.local_url).status)
PROCESS["engine_loaded"].wait(timeout=120)
print("after loading:", loaded())
app.close()
"""


def test_the_app_is_built_without_torch_and_loads_the_engine_once_it_serves():
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_SERVER_PORT": str(free_port())}
    result = subprocess.run([sys.executable, "-c", SERVE_BEFORE_TORCH], capture_output=True, text=True, cwd=ROOT,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert "built: []" in lines and "served: 200" in lines
    assert "after loading: ['core.compare', 'core.trace', 'core.training', 'torch']" in lines


@pytest.fixture(scope="module")
def sinusoid_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "sinusoid.pt"
    code = train.main(["--task", "sinusoid", "--iterations", "20", "--validate-every", "10",
                       "--validation-tasks", "20", "--strategy", "vmap", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_train_writes_a_weights_only_checkpoint_and_a_complete_card(sinusoid_checkpoint):
    state = torch.load(sinusoid_checkpoint, weights_only=True)
    assert set(state) == {"body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias", "head.weight", "head.bias"}
    card = json.loads(card_path(sinusoid_checkpoint).read_text())
    for field in ("task", "algorithm", "checkpoint", "sha256", "config", "data", "iterations", "wall_time_s",
                  "device", "metrics", "git_commit"):
        assert field in card
    assert card["task"] == "sinusoid" and card["algorithm"] == "maml" and card["iterations"] == 20
    assert card["sha256"] == sha256_of(sinusoid_checkpoint) and card["checkpoint"] == "sinusoid.pt"
    assert card["config"]["inner_lr"] == 0.01 and card["config"]["meta_batch"] == 25
    assert [point["iteration"] for point in card["training_curve"]] == [10, 20]


def test_resume_continues_to_the_same_theta_as_one_run(tmp_path):
    common = ["--task", "sinusoid", "--validate-every", "5", "--validation-tasks", "10", "--strategy", "loop", "--quiet"]
    assert train.main([*common, "--iterations", "10", "--out", str(tmp_path / "full.pt")]) == 0
    assert train.main([*common, "--iterations", "5", "--out", str(tmp_path / "part.pt")]) == 0
    # a resumed run must use the same configuration; only --iterations may grow
    assert train.main([*common, "--iterations", "10", "--out", str(tmp_path / "part.pt"), "--resume"]) == 0
    full = torch.load(tmp_path / "full.pt", weights_only=True)
    resumed = torch.load(tmp_path / "part.pt", weights_only=True)
    for key in full:
        torch.testing.assert_close(resumed[key], full[key], rtol=1e-6, atol=1e-7)


def test_evaluate_sinusoid_tasks_file(sinusoid_checkpoint, tmp_path, capsys):
    tasks = [{"x_support": [-2.0, 0.0, 2.0], "y_support": [1.0, 0.0, -1.0], "x_query": [1.0, 3.0], "y_query": [-0.5, 0.2]}]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(tasks))
    assert evaluate.main(["--checkpoint", str(sinusoid_checkpoint), "--sinusoid-tasks", str(path), "--steps", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    steps = result["tasks"][0]
    assert [s["step"] for s in steps] == [0, 1, 2, 3]
    assert all(len(s["predictions"]) == 2 for s in steps)
    model, theta, _ = load_checkpoint(sinusoid_checkpoint)
    with torch.no_grad():
        at_theta = predict(model, theta, torch.tensor([[1.0], [3.0]])).flatten().tolist()
    assert steps[0]["predictions"] == pytest.approx(at_theta, rel=1e-6)
    assert steps[0]["query_mse"] == pytest.approx(((at_theta[0] + 0.5) ** 2 + (at_theta[1] - 0.2) ** 2) / 2, rel=1e-5)


def test_evaluate_sinusoid_sample_reports_confidence_intervals(sinusoid_checkpoint, capsys):
    assert evaluate.main(["--checkpoint", str(sinusoid_checkpoint), "--sinusoid-sample", "50", "--support", "5",
                          "--steps", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["per_step"]
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert all(r["query_loss"]["n"] == 50 and r["query_loss"]["ci95"] > 0 for r in rows)


@pytest.mark.parametrize("argv, message", [
    (["--task", "sinusoid", "--iterations", "0", "--out", "x.pt"], "iterations must be >= 1"),
    (["--task", "sinusoid", "--iterations", "5", "--inner-lr", "nan", "--out", "x.pt"], "inner_lr must be a finite"),
    (["--task", "sinusoid", "--iterations", "5", "--strategy", "fast", "--out", "x.pt"], "unknown strategy"),
    (["--task", "sinusoid", "--iterations", "5", "--device", "tpu", "--out", "x.pt"], "device"),
    (["--task", "sinusoid", "--iterations", "5", "--resume", "--out", "nowhere/x.pt"], "no training state"),
    (["--task", "omniglot", "--iterations", "5", "--data", "missing.zip", "--out", "x.pt"], "missing.zip"),
    (["--task", "omniglot", "--iterations", "5", "--episode-mix", "20x1", "--out", "x.pt"], "is not NxK:Q"),
])
def test_train_rejects_bad_input_with_a_message(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.main(argv) == 2
    assert message in capsys.readouterr().err


def test_evaluate_rejects_bad_input_with_a_message(sinusoid_checkpoint, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"x_support": [0.0], "y_support": ["x"], "x_query": [], "y_query": []}]))
    cases = [
        (["--checkpoint", str(tmp_path / "none.pt"), "--sinusoid-sample", "5"], "does not exist"),
        (["--checkpoint", str(sinusoid_checkpoint), "--sinusoid-tasks", str(bad)], "task 0"),
        (["--checkpoint", str(sinusoid_checkpoint), "--sinusoid-sample", "0"], "must be >= 1"),
        (["--checkpoint", str(sinusoid_checkpoint), "--sinusoid-sample", "5", "--steps", "-1"], "inner steps"),
        (["--checkpoint", str(sinusoid_checkpoint), "--episodes", "5", "--data", "x"], "sinusoid checkpoint"),
        (["--checkpoint", str(sinusoid_checkpoint), "--omniglot-runs", str(tmp_path)], "sinusoid checkpoint"),
    ]
    for argv, message in cases:
        assert evaluate.main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_tampered_checkpoint_is_refused(sinusoid_checkpoint, tmp_path):
    copy = tmp_path / "copy.pt"
    copy.write_bytes(sinusoid_checkpoint.read_bytes() + b"x")
    card_path(copy).write_text(card_path(sinusoid_checkpoint).read_text())
    with pytest.raises(ValueError, match="does not match the sha256"):
        load_checkpoint(copy)


def test_cli_exits_non_zero_in_a_real_process(tmp_path):
    result = subprocess.run([sys.executable, "-m", "core.evaluate", "--checkpoint", str(tmp_path / "no.pt"),
                             "--sinusoid-sample", "3"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_evaluate_omniglot_episodes_and_runs(tmp_path, capsys):
    from tests.demo_fixtures import make_assets
    from tests.omniglot_fixtures import write_characters, write_runs

    checkpoint = make_assets(tmp_path / "assets") / "omniglot_maml.pt"
    data = write_characters(tmp_path / "data", drawers=6)
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(checkpoint), "--episodes", "4", "--ways", "3", "--shots", "1",
                          "--queries", "2", "--data", str(data), "--steps", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["per_step"]
    assert [r["step"] for r in rows] == [0, 1, 2]
    assert rows[0]["accuracy"]["mean"] == pytest.approx(1 / 3)  # zero head: uniform, argmax picks class 0
    write_runs(tmp_path / "runs")
    assert evaluate.main(["--checkpoint", str(checkpoint), "--omniglot-runs", str(tmp_path / "runs"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["run"] for r in result["runs"]] == ["run01", "run02"]
    assert all(0.0 <= r["error_rate"] <= 1.0 for r in result["runs"])
    assert result["mean_error_rate"] == pytest.approx(sum(r["error_rate"] for r in result["runs"]) / 2)
    assert result["inner_lr"] == 0.4 and "meta-trained with" in result["inner_lr_source"]  # the card has no 3x1 row


def test_one_shot_runs_take_the_alpha_of_the_card_row_of_their_shape(tmp_path, capsys):
    from tests.demo_fixtures import make_assets
    from tests.omniglot_fixtures import write_runs

    checkpoint = make_assets(tmp_path / "assets") / "omniglot_maml.pt"
    card = json.loads(card_path(checkpoint).read_text())
    card["test_inner_lr"] = {"5x1": 0.3, "3x1": 0.15, "3x5": 0.9}  # the runs written here are 3-way 1-shot
    card_path(checkpoint).write_text(json.dumps(card))
    write_runs(tmp_path / "runs")
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(checkpoint), "--omniglot-runs", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "α = 0.15, the test α the card selected for 3-way 1-shot" in out
    assert evaluate.main(["--checkpoint", str(checkpoint), "--omniglot-runs", str(tmp_path / "runs"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inner_lr"] == 0.15


def test_evaluate_report_writes_rows_and_the_papers_numbers_into_the_card(sinusoid_checkpoint, tmp_path, capsys):
    copy = tmp_path / "report.pt"
    copy.write_bytes(sinusoid_checkpoint.read_bytes())
    card_path(copy).write_text(card_path(sinusoid_checkpoint).read_text())
    capsys.readouterr()
    assert evaluate.main(["--checkpoint", str(copy), "--report", "--report-tasks", "20", "--json"]) == 0
    card = json.loads(card_path(copy).read_text())
    rows = card["metrics"]["report"]
    assert [(r["distribution"], r["K"]) for r in rows] == [
        ("in-distribution", 5), ("in-distribution", 10), ("amplitude 5-10", 5), ("amplitude 5-10", 10),
        ("phase pi-2pi", 5), ("phase pi-2pi", 10)]  # the paper's range and Finn & Levine's two shifts
    assert all(r["tasks"] == 20 and set(r["mse"]) == {"0", "1", "5", "10", "100"} for r in rows)
    assert card["metrics"]["paper"]["mse"]["maml"] == {"1": 0.67, "5": 0.38, "10": 0.35}
    assert json.loads(capsys.readouterr().out)["report"] == rows
    load_checkpoint(copy)  # the card changed, the checkpoint and its sha256 did not
