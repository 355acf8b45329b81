"""`python app.py` as a person runs it: a real process, the address from GRADIO_SERVER_* variables."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_app_py_serves_on_the_port_from_the_environment_and_logs_user_errors_in_one_line():
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False"}
    process = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while True:
            assert process.poll() is None and time.time() < deadline, "app.py did not answer within 120 s"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    assert response.status == 200 and "MAML Playground" in response.read().decode()
                    break
            except OSError:
                time.sleep(0.25)
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        mistakes = [(["sine", 2.0, 1.0, 5, None, {"headers": ["x", "y"], "data": [], "metadata": None}, "maml", 0.01,
                      500, 0.0, 0], "/adapt_sinusoid"),  # S over its cap
                    (["mine", "shipped", 1, 0.01, 2, 0.03, 1, 0], "/compare_gradients")]  # no Sinusoid run yet
        for args, api_name in mistakes:
            try:
                client.predict(*args, api_name=api_name)
            except Exception:  # noqa: BLE001 - the refusal itself is tested elsewhere; here, its log
                pass
            else:
                raise AssertionError(f"{api_name} accepted {args}")
    finally:
        process.terminate()
        log = process.communicate(timeout=30)[0]
    assert "Traceback" not in log and "Warning" not in log, log  # no traceback for a user's mistake, no warning
    refused = [line for line in log.splitlines() if ": refused" in line]
    assert len(refused) == len(mistakes) and all("maml_playground" in line for line in refused), log
