"""STRATUS_FUNCTION_NETWORK / STRATUS_FUNCTION_HOST_PORTS parsing (no server)."""

import pytest

from stratus.sandbox.network import NetworkConfig


def test_modes_ports_and_the_old_isolated_setting():
    assert NetworkConfig.parse("", "", 8421) == NetworkConfig("outbound", (), 8421)
    assert NetworkConfig.parse("HOST", " 6379, 5432,5432 ", None) == NetworkConfig("host", (5432, 6379), None)
    assert NetworkConfig.parse("outbound", "", 8421, isolated=True).mode == "none"


@pytest.mark.parametrize("mode, ports", [("bridge", ""), ("none", "80x"), ("none", "0"), ("none", "65536"),
                                         ("outbound", "9001")])
def test_bad_values_are_refused_with_the_settings_name(mode, ports):
    with pytest.raises(ValueError, match="STRATUS_FUNCTION_"):
        NetworkConfig.parse(mode, ports, 8421)
