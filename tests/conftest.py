import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    config.addinivalue_line("markers", "load: a load test against a real server process (CI runs it)")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app with the test checkpoints (tests.demo_fixtures.make_assets) served on a free port, for page tests."""
    import torch

    from demo import build_app
    from demo.store import CheckpointStore
    from tests.demo_fixtures import make_assets, served

    store = CheckpointStore(make_assets(tmp_path_factory.mktemp("assets")), torch.device("cpu"))
    with served(build_app(store)) as url:
        yield url
