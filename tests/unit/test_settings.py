"""operator/settings.py: operator settings from PF_* environment variables."""

from __future__ import annotations

import pytest

from pf_operator.settings import Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.namespace_prefix == "tenant-"
    assert s.global_max_concurrent == 50
    assert s.agent_node_selector == {}
    assert s.agent_tolerations == []
    assert s.pod_cidrs == ["10.244.0.0/16"]
    assert s.service_cidrs == ["10.96.0.0/16"]
    assert s.ca_bundle_configmap is None
    assert s.database_dsn is None
    assert s.leader_election is False
    assert s.log_format == "json"


def test_unrelated_variables_are_ignored() -> None:
    s = Settings.from_env({"GLOBAL_MAX_CONCURRENT": "3", "pf_global_max_concurrent": "4",
                           "PF_UNKNOWN_THING": "x"})
    assert s.global_max_concurrent == 50


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PF_PIPELINE_WORKERS", "3")
    monkeypatch.setenv("PF_AGENT_IMAGE", "registry.example/agent:1")
    s = Settings.from_env()
    assert s.pipeline_workers == 3
    assert s.agent_image == "registry.example/agent:1"


def test_scalars() -> None:
    s = Settings.from_env({
        "PF_NAMESPACE_PREFIX": "t-",
        "PF_GLOBAL_MAX_CONCURRENT": "7",
        "PF_QUEUE_POSITION_REFRESH_SECONDS": "0.5",
        "PF_METRICS_PORT": "0",
        "PF_CA_BUNDLE_CONFIGMAP": "corp-ca",
        "PF_DATABASE_DSN": "postgresql://pf@db/pf",
        "PF_LOG_FORMAT": "text",
    })
    assert s.namespace_prefix == "t-"
    assert s.global_max_concurrent == 7
    assert s.queue_position_refresh_seconds == 0.5
    assert s.metrics_port == 0
    assert s.ca_bundle_configmap == "corp-ca"
    assert s.database_dsn == "postgresql://pf@db/pf"
    assert s.log_format == "text"


def test_json_dict_and_list() -> None:
    s = Settings.from_env({
        "PF_AGENT_NODE_SELECTOR": '{"pool": "agents", "kubernetes.io/os": "linux"}',
        "PF_AGENT_TOLERATIONS": ' [{"key": "agents", "operator": "Exists", '
                                '"effect": "NoSchedule"}]',
        "PF_POD_CIDRS": '["10.0.0.0/8", "fd00::/8"]',
    })
    assert s.agent_node_selector == {"pool": "agents", "kubernetes.io/os": "linux"}
    assert s.agent_tolerations == [{"key": "agents", "operator": "Exists",
                                    "effect": "NoSchedule"}]
    assert s.pod_cidrs == ["10.0.0.0/8", "fd00::/8"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.0/8,10.1.0.0/16", ["10.0.0.0/8", "10.1.0.0/16"]),
        (" 10.0.0.0/8 , 10.1.0.0/16 ,", ["10.0.0.0/8", "10.1.0.0/16"]),
        ("10.0.0.0/8", ["10.0.0.0/8"]),
        ("", []),
        (" , ", []),
    ],
)
def test_comma_lists(raw: str, expected: list[str]) -> None:
    assert Settings.from_env({"PF_SERVICE_CIDRS": raw}).service_cidrs == expected


@pytest.mark.parametrize("raw", ["1", "true", "True", "TRUE", "yes", "on", "On"])
def test_true_values(raw: str) -> None:
    assert Settings.from_env({"PF_LEADER_ELECTION": raw}).leader_election is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", ""])
def test_false_values(raw: str) -> None:
    assert Settings.from_env({"PF_LEADER_ELECTION": raw}).leader_election is False


def invalid(env: dict[str, str]) -> str:
    with pytest.raises(SystemExit) as exc:
        Settings.from_env(env)
    message = str(exc.value.code)
    assert message.startswith("invalid operator settings (PF_* environment)")
    return message


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"PF_GLOBAL_MAX_CONCURRENT": "many"}, "global_max_concurrent"),
        ({"PF_GLOBAL_MAX_CONCURRENT": "0"}, "global_max_concurrent"),
        ({"PF_TENANT_WORKERS": ""}, "tenant_workers"),
        ({"PF_METRICS_PORT": "70000"}, "metrics_port"),
        ({"PF_DRIFT_RESYNC_SECONDS": "1"}, "drift_resync_seconds"),
        ({"PF_LOG_FORMAT": "xml"}, "log_format"),
        ({"PF_NAMESPACE_PREFIX": "Tenant-"}, "namespace_prefix"),
        ({"PF_NAMESPACE_PREFIX": "much-too-long-prefix-"}, "namespace_prefix"),
        ({"PF_NAMESPACE_PREFIX": "a_b"}, "namespace_prefix"),
        ({"PF_AGENT_NODE_SELECTOR": "pool=agents"}, "agent_node_selector"),
        ({"PF_AGENT_NODE_SELECTOR": '["pool"]'}, "agent_node_selector"),
        ({"PF_AGENT_TOLERATIONS": "key=agents"}, "agent_tolerations"),
        ({"PF_POD_CIDRS": '{"a": 1}'}, "pod_cidrs"),
    ],
)
def test_invalid_values_exit_with_a_clear_message(env: dict[str, str], field: str) -> None:
    assert field in invalid(env)


def test_all_problems_are_reported_at_once() -> None:
    message = invalid({"PF_GLOBAL_MAX_CONCURRENT": "x", "PF_LOG_FORMAT": "xml"})
    assert "global_max_concurrent" in message
    assert "log_format" in message


@pytest.mark.parametrize("raw", ['{"pool": "agents"', "{pool: agents}", "[1, 2"])
def test_malformed_json_exits_with_a_clear_message(raw: str) -> None:
    assert "agent_node_selector" in invalid({"PF_AGENT_NODE_SELECTOR": raw})


@pytest.mark.parametrize("raw", ["ture", "enabled", "2"])
def test_unrecognised_booleans_exit(raw: str) -> None:
    assert "leader_election" in invalid({"PF_LEADER_ELECTION": raw})
