"""The client address behind proxies: X-Forwarded-For believed only from trusted peers."""

from __future__ import annotations

import ipaddress

import pytest

from fsm.auth.addresses import client_address
from fsm.settings import SettingsError, load_settings

TRUSTED = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32"))


class TestClientAddress:
    def test_without_trusted_proxies_the_header_is_ignored(self) -> None:
        assert client_address("127.0.0.1", ["192.0.2.1"], trusted=()) == "127.0.0.1"

    def test_an_untrusted_peer_is_the_client_whatever_it_forwards(self) -> None:
        assert client_address("198.51.100.7", ["192.0.2.1"], trusted=TRUSTED) == "198.51.100.7"

    def test_the_right_most_untrusted_hop_is_the_client(self) -> None:
        chain = ["192.0.2.1, 198.51.100.9", "2001:db8::5, 10.1.2.3"]

        assert client_address("10.0.0.2", chain, trusted=TRUSTED) == "198.51.100.9"

    def test_a_trusted_peer_without_the_header_is_the_client(self) -> None:
        assert client_address("10.0.0.2", [], trusted=TRUSTED) == "10.0.0.2"

    def test_only_trusted_hops_give_the_left_most(self) -> None:
        assert client_address("10.0.0.2", ["10.9.9.9, 10.0.0.5"], trusted=TRUSTED) == "10.9.9.9"

    def test_junk_in_the_untrusted_place_is_the_client_as_written(self) -> None:
        assert client_address("10.0.0.2", ["1.1.1.1, junk"], trusted=TRUSTED) == "junk"

    def test_no_peer_is_no_address(self) -> None:
        assert client_address(None, ["192.0.2.1"], trusted=TRUSTED) is None


class TestTrustedProxiesSetting:
    def test_none_by_default(self) -> None:
        assert load_settings({}).auth.trusted_proxies == ()

    def test_addresses_and_blocks_separated_by_commas(self) -> None:
        settings = load_settings({"FSM_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1,::1"})

        assert settings.auth.trusted_proxies == (
            ipaddress.ip_network("10.0.0.0/8"),
            ipaddress.ip_network("127.0.0.1/32"),
            ipaddress.ip_network("::1/128"),
        )

    def test_a_bad_entry_is_named(self) -> None:
        with pytest.raises(SettingsError, match=r"FSM_TRUSTED_PROXIES.*'nope'"):
            load_settings({"FSM_TRUSTED_PROXIES": "10.0.0.0/8,nope"})
