"""Property-based fuzzing of the whole API from its OpenAPI description: bad input of any
shape gets a 4xx answer, never a server error."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("token_name", ["admin_token", "user_token"])
def test_the_api_never_answers_a_server_error_to_generated_requests(live_portal, token_name):
    token = getattr(live_portal, token_name)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.live.schemathesis_hooks",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run",
         f"{live_portal.url}/api/schema/", "--header", f"X-Auth-Token: {token}",
         "--checks", "not_a_server_error", "--max-examples", "15", "--seed", "1",
         "--request-timeout", "30"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert " passed" in summary and "failed" not in summary.split("Test cases:")[-1], summary
