"""A mistyped DNS source (SHAZBOT_MASTER_LIST) must not also be
told to set the write settings that a DNS source forbids."""

from __future__ import annotations

import pytest

from flask_clustershazbot.config import load_config
from flask_clustershazbot.errors import ConfigError

BASE = {"SHAZBOT_SECRET": "s", "SHAZBOT_CONTROL_SECRET": "c", "SHAZBOT_BASE_URL": "http://a.test:8000"}


@pytest.mark.parametrize("source", ["dns://shazbot.test", "dns+srv://shazbot.test", "dns://shazbot.test:8000/x"])
def test_a_malformed_dns_source_names_only_the_master_list(source: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(dict(BASE, SHAZBOT_MASTER_LIST=source), {})
    message = str(caught.value)
    assert "SHAZBOT_MASTER_LIST:" in message
    # Setting these would be the next ConfigError ("must not be set with a dns:// ...").
    assert "SHAZBOT_MASTER_LIST_UPDATE" not in message
