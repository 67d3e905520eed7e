"""The outbound policy's rules: internal hosts in any spelling, and the allowed list."""

from __future__ import annotations

import ipaddress

import pytest

from collector.config.runtime import check_setting
from collector.config.settings import Config
from collector.models.outbound import AllowedHosts, internal_kind, parse_address
from collector.models.urls import InvalidURLError, RefusedHostError, validate_url
from collector.repositories import SettingsRepository
from collector.repositories.settings_repository import load_settings

# Each spelling of an internal host, and the address it is read as (None: a local name).
INTERNAL = [
    ("127.0.0.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("%31%32%37.0.0.1", "127.0.0.1"),
    ("\uff11\uff12\uff17\u3002\uff10\u3002\uff10\u3002\uff11", "127.0.0.1"),  # full-width
    ("[::1]", "::1"),
    ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
    ("[::ffff:7f00:1]", "::ffff:7f00:1"),
    ("[64:ff9b::7f00:1]", "64:ff9b::7f00:1"),
    ("[2002:7f00:1::]", "2002:7f00:1::"),
    ("[fe80::1%25eth0]", "fe80::1"),
    ("169.254.169.254", "169.254.169.254"),
    ("10.1.2.3", "10.1.2.3"),
    ("172.16.0.1", "172.16.0.1"),
    ("192.168.1.1", "192.168.1.1"),
    ("100.64.0.1", "100.64.0.1"),
    ("224.0.0.1", "224.0.0.1"),
    ("240.0.0.1", "240.0.0.1"),
    ("0.0.0.0", "0.0.0.0"),
    ("0", "0.0.0.0"),
    ("[::]", "::"),
    ("[fd00::1]", "fd00::1"),
    ("localhost", None),
    ("LOCALHOST.", None),
    ("api.localhost", None),
    ("printer.local", None),
    ("metadata.google.internal", None),
    ("db", None),
]
PUBLIC = ["example.com", "8.8.8.8", "134744072", "[2606:4700::1]", "[64:ff9b::808:808]", "1.1"]


@pytest.mark.parametrize(("host", "address"), INTERNAL)
def test_internal_hosts_are_refused_in_every_spelling(host: str, address: str | None) -> None:
    with pytest.raises(RefusedHostError) as caught:
        validate_url(f"http://{host}:22/x")
    message = str(caught.value)
    assert message.startswith(f"refused: {host.strip('[]').lower()} is ")
    assert "COLLECTOR_ALLOWED_HOSTS" in message
    if address is not None:
        assert f"({address}, " in message
    assert isinstance(caught.value, InvalidURLError)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_hosts_are_queued(host: str) -> None:
    assert validate_url(f"https://{host}/v") == f"https://{host}/v"


def test_embedded_ipv4_decides_for_mapped_6to4_and_nat64() -> None:
    assert internal_kind(ipaddress.ip_address("::ffff:10.0.0.1")) == "private"
    assert internal_kind(ipaddress.ip_address("2002:0808:0808::1")) is None
    assert internal_kind(ipaddress.ip_address("64:ff9b::a9fe:a9fe")) == "link-local"
    assert parse_address("256.0.0.1") is None and parse_address("1.2.3.4.5") is None


def test_allowed_hosts_parse_names_addresses_and_networks() -> None:
    allowed = AllowedHosts.parse(" Media.Example., 127.0.0.1, 10.0.0.0/8 ,[::1], fd00::/8,,my_db")
    assert allowed.names == {"media.example", "my_db"}
    assert str(allowed) == "media.example,my_db,127.0.0.1,10.0.0.0/8,::1,fd00::/8"
    assert AllowedHosts.parse(str(allowed)) == allowed
    assert not AllowedHosts.parse("") and not allowed.allows_everything
    assert AllowedHosts.parse("0.0.0.0/0,::/0").allows_everything


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://media.example/x", "media.example"),
        ("http://MEDIA.example./x", "media.example"),
        ("http://localhost:8080/x", "localhost"),
        ("http://127.0.0.1/x", "127.0.0.1"),
        ("http://0x7f000001/x", "127.0.0.1"),
        ("http://10.20.30.40/x", "10.0.0.0/8"),
        ("http://[::ffff:10.1.1.1]/x", "10.0.0.0/8"),
        ("http://[fd00::5]/x", "fd00::/8"),
        ("http://[::1]/x", "::1"),
    ],
)
def test_allowed_hosts_let_their_urls_through(url: str, allowed: str) -> None:
    assert validate_url(url, AllowedHosts.parse(allowed)) == url


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.2/x", "127.0.0.1"),
        ("http://localhost/x", "127.0.0.1"),  # a name is not allowed by its address
        ("http://a.localhost/x", "localhost"),
        ("http://11.0.0.1.localhost/x", "10.0.0.0/8"),
        ("http://[::2]/x", "::1"),
        ("http://192.168.0.1/x", "10.0.0.0/8"),
    ],
)
def test_allowed_hosts_let_nothing_else_through(url: str, allowed: str) -> None:
    with pytest.raises(RefusedHostError):
        validate_url(url, AllowedHosts.parse(allowed))


@pytest.mark.parametrize(
    ("entry", "fault"),
    [
        ("127.0.0.1:8080", "entries name hosts, not ports"),
        ("*.example.com", "is not a host name"),
        ("10.0.0.1/8", "has host bits set"),
        ("10.0.0.0/33", "is not a network"),
        ("example.com/24", "is not a network"),
        ("a b", "is not a host name"),
    ],
)
def test_invalid_allowed_entries_are_refused(entry: str, fault: str) -> None:
    with pytest.raises(ValueError, match="allowed_hosts: .*" + fault.replace("*", r"\*")):
        check_setting("allowed_hosts", entry)


def test_the_setting_is_stored_normalised() -> None:
    assert check_setting("allowed_hosts", " LocalHost , 10.0.0.0/8 ") == "localhost,10.0.0.0/8"
    assert check_setting("allowed_hosts", "") == ""


def test_environment_and_setting_are_combined(db, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "127.0.0.1,nas")
    assert str(load_settings(db).allowed_hosts) == "nas,127.0.0.1"
    SettingsRepository(db).set("allowed_hosts", "10.0.0.0/8")
    assert str(load_settings(db).allowed_hosts) == "nas,127.0.0.1,10.0.0.0/8"


def test_an_invalid_environment_value_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLECTOR_ALLOWED_HOSTS", "127.0.0.1:80")
    with pytest.raises(ValueError, match=r"^COLLECTOR_ALLOWED_HOSTS: '127\.0\.0\.1:80' is not"):
        Config.allowed_hosts()
