"""Schedules and list limits from PORTAL_CONFIG: the scrubber's wake-up, the audits' times,
Glance's limit_param_default and api_limit_max."""
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from stores import config

ROOT = Path(__file__).resolve().parents[2]
BASE = '[stores.a]\nbackend = "file"\nroot = "/a"\n'


def parse(text):
    return config.parse(tomllib.loads(text), environ={}, base_dir=Path("/tmp"))


def test_without_options_the_times_and_limits_are_glances_defaults():
    result = parse(BASE)
    assert result["LIMITS"] == {"LIMIT_PARAM_DEFAULT": 25, "API_LIMIT_MAX": 1000}
    assert result["SCHEDULES"]["WAKEUP_TIME"] == 300
    assert result["SCHEDULES"]["AUDIT_SCHEDULE"] == {
        "minute": "0", "hour": "3", "day_of_month": "*", "month_of_year": "*",
        "day_of_week": "*"}


@pytest.mark.parametrize("text, message", [
    ("wakeup_time = 0\n", "wakeup_time must be a positive integer"),
    ("api_limit_max = 10\nlimit_param_default = 20\n", "limit_param_default (20) is more than"),
    ('audit_schedule = "0 3 * *"\n', "needs 5 fields"),
    ('audit_deep_schedule = "0 25 * * *"\n', "audit_deep_schedule = \"0 25 * * *\""),
    ("audit_schedule = 3\n", "audit_schedule must be a cron line"),
])
def test_a_bad_schedule_or_limit_is_refused_naming_it(text, message):
    with pytest.raises(ImproperlyConfigured) as info:
        parse(text + BASE)
    assert message in str(info.value)


def test_beat_runs_the_scrubber_and_the_audits_when_the_config_says(tmp_path):
    cfg = tmp_path / "portal.toml"
    cfg.write_text(f'wakeup_time = 60\naudit_schedule = "15 2 * * *"\n'
                   f'audit_deep_schedule = ""\nlimit_param_default = 10\napi_limit_max = 50\n'
                   f'[stores.a]\nbackend = "file"\nroot = "{tmp_path}"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "PORTAL_CONFIG", "GLANCE_DATABASE_URL")}
    env.update(PORTAL_DATA_DIR=str(tmp_path / "data"), PORTAL_CONFIG=str(cfg))
    script = ("import json; from django.conf import settings as s; b = s.CELERY_BEAT_SCHEDULE; "
              "print(json.dumps({k: str(v['schedule']) for k, v in b.items()} | "
              "{'limits': [s.LIMIT_PARAM_DEFAULT, s.API_LIMIT_MAX]}))")
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120, check=True)
    schedule = json.loads(out.stdout.strip().splitlines()[-1])
    assert schedule["scrub"] == "60"
    assert schedule["audit-all-nightly"] == "<crontab: 15 2 * * * (m/h/dM/MY/d)>"
    assert "audit-all-deep-weekly" not in schedule
    assert "audit-glance-nightly" not in schedule          # no Glance database configured
    assert schedule["limits"] == [10, 50]
