"""Static checks of crds/*.yaml: structure, documentation, and agreement with operator/model.py."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from pf_agents import contract
from pf_agents.stages import STAGES
from pf_operator import model
from pf_operator.quantities import parse_quantity

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"


def load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((CRDS / f"pffigma.dev_{name}.yaml").read_text())
    assert isinstance(doc, dict)
    return doc


TENANT = load("tenants")
PIPELINE = load("designpipelines")
ALL = {"tenants": TENANT, "designpipelines": PIPELINE}


def version(crd: dict[str, Any]) -> dict[str, Any]:
    (only,) = crd["spec"]["versions"]
    assert isinstance(only, dict)
    return only


def root_schema(crd: dict[str, Any]) -> dict[str, Any]:
    schema = version(crd)["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below ``node`` with its path (a.b[].c, m{} for map values)."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from walk(child, f"{path}.{name}")
    if "items" in node:
        yield f"{path}[]", node["items"]
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield f"{path}{{}}", node["additionalProperties"]
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def at(crd: dict[str, Any], path: str) -> dict[str, Any]:
    node = root_schema(crd)
    for part in path.strip(".").split("."):
        node = node["properties"][part]
    return node


def all_nodes() -> list[tuple[str, dict[str, Any]]]:
    """(crd:path, node) of every schema node of both CRDs."""
    return [
        (f"{crd_name}:{path}", node)
        for crd_name, crd in ALL.items()
        for path, node in walk(root_schema(crd))
    ]


NODES = all_nodes()


# --- names, scope, subresources, columns ---------------------------------------------------


@pytest.mark.parametrize(
    ("crd", "scope", "kind", "short"),
    [(TENANT, "Cluster", "Tenant", "tn"), (PIPELINE, "Namespaced", "DesignPipeline", "dp")],
)
def test_names_and_scope(crd: dict[str, Any], scope: str, kind: str, short: str) -> None:
    spec = crd["spec"]
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert spec["group"] == model.GROUP
    assert spec["scope"] == scope
    assert spec["names"]["kind"] == kind
    assert crd["metadata"]["name"] == f"{spec['names']['plural']}.{model.GROUP}"
    assert spec["names"]["shortNames"] == [short]
    assert spec["names"]["categories"] == ["pf-figma"]
    v = version(crd)
    assert v["name"] == model.VERSION
    assert v["served"] and v["storage"]
    assert v["subresources"] == {"status": {}}


def test_plural_constants_match() -> None:
    assert TENANT["spec"]["names"]["plural"] == model.TENANT_PLURAL
    assert PIPELINE["spec"]["names"]["plural"] == model.PIPELINE_PLURAL


@pytest.mark.parametrize(
    ("crd", "columns"),
    [
        (TENANT, ["Plan", "Namespace", "Ready", "Running", "Queued", "Age"]),
        (PIPELINE, ["Stage", "Succeeded", "Reason", "Fidelity", "Queue", "Age"]),
    ],
)
def test_printer_columns(crd: dict[str, Any], columns: list[str]) -> None:
    printed = version(crd)["additionalPrinterColumns"]
    assert [c["name"] for c in printed] == columns
    for column in printed:
        assert column["description"]
        path = column["jsonPath"]
        if path == ".metadata.creationTimestamp":
            assert column["type"] == "date"
            continue
        # The column must point at a declared field (conditions[?(...)] -> conditions[]).
        plain = re.sub(r"\[\?\(@\.type==\"(\w+)\"\)\]", "", path)
        node = root_schema(crd)
        for part in plain.strip(".").split("."):
            node = node.get("items", node)["properties"][part]
        assert node, path


def test_ready_and_succeeded_columns_read_conditions() -> None:
    tenant_cols = {c["name"]: c["jsonPath"] for c in version(TENANT)["additionalPrinterColumns"]}
    assert tenant_cols["Ready"] == '.status.conditions[?(@.type=="Ready")].status'
    assert tenant_cols["Namespace"] == ".status.namespace"
    assert tenant_cols["Running"] == ".status.pipelines.running"
    assert tenant_cols["Queued"] == ".status.pipelines.queued"
    dp_cols = {c["name"]: c["jsonPath"] for c in version(PIPELINE)["additionalPrinterColumns"]}
    assert dp_cols["Succeeded"] == '.status.conditions[?(@.type=="Succeeded")].status'
    assert dp_cols["Reason"] == '.status.conditions[?(@.type=="Succeeded")].reason'


# --- schema structure ----------------------------------------------------------------------


def test_every_field_has_a_description() -> None:
    # The API server forbids anything but name/generateName restrictions under metadata.
    missing = [
        where
        for where, node in NODES
        if not where.endswith(":.metadata") and not node.get("description", "").strip()
    ]
    assert missing == []


def _structure_problems(where: str, node: dict[str, Any]) -> list[str]:
    problems = []
    if "x-kubernetes-preserve-unknown-fields" in node:
        problems.append("preserves unknown fields")
    if node.get("x-kubernetes-int-or-string"):
        if "type" in node or node.get("anyOf") != [{"type": "integer"}, {"type": "string"}]:
            problems.append("int-or-string must have anyOf [integer, string] and no type")
    elif node.get("type") not in {"object", "array", "string", "integer", "number", "boolean"}:
        problems.append("no type")
    if node.get("type") == "array":
        if "maxItems" not in node:
            problems.append("array without maxItems (CEL cost, object size)")
        if node.get("x-kubernetes-list-type") not in {"atomic", "set", "map"}:
            problems.append("array without x-kubernetes-list-type")
    if node.get("type") == "object" and "properties" not in node:
        # Only free-form maps with a typed value (featureFlags) and the root metadata.
        if not where.endswith(":.metadata") and not isinstance(
            node.get("additionalProperties"), dict
        ):
            problems.append("object without properties")
    return [f"{where}: {p}" for p in problems]


def test_structural() -> None:
    assert [p for where, node in NODES for p in _structure_problems(where, node)] == []


def test_root_has_no_preserve_unknown_fields() -> None:
    for crd in ALL.values():
        root = root_schema(crd)
        assert "x-kubernetes-preserve-unknown-fields" not in root
        assert "x-kubernetes-preserve-unknown-fields" not in root["properties"]["status"]
        assert root["description"]


def test_feature_flags_is_a_map_of_booleans() -> None:
    flags = at(TENANT, "spec.featureFlags")
    assert flags["type"] == "object"
    assert flags["additionalProperties"]["type"] == "boolean"


def test_validation_rules_have_messages() -> None:
    silent = [
        f"{where}: {rule['rule']}"
        for where, node in NODES
        for rule in node.get("x-kubernetes-validations", [])
        if not (rule.get("message") or rule.get("messageExpression"))
    ]
    assert silent == []


def _default_problems(node: dict[str, Any]) -> bool:
    default = node["default"]
    if "enum" in node and default not in node["enum"]:
        return True
    item_enum = node.get("items", {}).get("enum")
    if item_enum and not set(default) <= set(item_enum):
        return True
    if isinstance(default, int) and not isinstance(default, bool):
        return not node.get("minimum", default) <= default <= node.get("maximum", default)
    return False


def test_defaults_satisfy_enums_and_bounds() -> None:
    bad = [where for where, node in NODES if "default" in node and _default_problems(node)]
    assert bad == []


def test_root_rules_limit_the_names() -> None:
    assert any(
        "self.metadata.name.size() <= 50" in r["rule"]
        for r in root_schema(TENANT)["x-kubernetes-validations"]
    )
    assert any(
        "self.metadata.name.size() <= 40" in r["rule"]
        for r in root_schema(PIPELINE)["x-kubernetes-validations"]
    )


def test_immutable_pipeline_inputs() -> None:
    for field in ("source", "target", "stages", "git"):
        rules = at(PIPELINE, f"spec.{field}").get("x-kubernetes-validations", [])
        assert "self == oldSelf" in [r["rule"] for r in rules], field


def test_conditions_schemas_are_the_same() -> None:
    tenant = at(TENANT, "status.conditions")["items"]
    pipeline = at(PIPELINE, "status.conditions")["items"]

    def without_descriptions(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: without_descriptions(v) for k, v in node.items() if k != "description"}
        return node

    assert without_descriptions(tenant) == without_descriptions(pipeline)
    assert at(TENANT, "status.conditions")["x-kubernetes-list-map-keys"] == ["type"]


def test_quantity_pattern_matches_the_model() -> None:
    pattern = at(TENANT, "spec.quota.cpu")["pattern"]
    for good in ["1", "500m", "1.5", "2Gi", "1e3", "+4", ".5"]:
        assert re.match(pattern, good)
        parse_quantity(good)
    for bad in ["-1", "1.5.5", "lots", "1gi", ""]:
        assert not re.match(pattern, bad)
        with pytest.raises(ValueError):
            parse_quantity(bad)


# --- agreement with the Python enums and models --------------------------------------------


def test_enums_match_the_model() -> None:
    assert at(TENANT, "spec.plan")["enum"] == [p.value for p in model.Plan]
    assert at(TENANT, "spec.plan")["default"] == model.Plan.STARTER
    assert at(TENANT, "spec.owners")["items"]["properties"]["kind"]["enum"] == [
        k.value for k in model.OwnerKind
    ]
    assert at(PIPELINE, "spec.stages")["items"]["enum"] == [s.value for s in model.STAGE_ORDER]
    assert at(PIPELINE, "spec.stages")["default"] == [s.value for s in model.DEFAULT_STAGES]
    assert at(PIPELINE, "status.stages")["items"]["properties"]["state"]["enum"] == [
        s.value for s in model.StageState
    ]
    assert at(TENANT, "spec.llm.model")["default"] == model.DEFAULT_LLM_MODEL


def test_stage_order_is_decided_once() -> None:
    """The CRD's enum and CEL ordering rule, the operator's Stage enum and the agents' stage
    runner all follow pf_agents.contract.STAGE_ORDER; deploy comes after every check."""
    order = list(contract.STAGE_ORDER)
    assert order == ["analyze", "generate", "test", "qa", "visual", "deploy"]
    assert [s.value for s in model.STAGE_ORDER] == order
    assert list(STAGES) == order
    stages = at(PIPELINE, "spec.stages")
    assert stages["items"]["enum"] == order
    assert stages["maxItems"] == len(order)
    # one status entry per stage: a pipeline running every stage can write its status
    assert at(PIPELINE, "status.stages")["maxItems"] == len(order)
    (rule,) = [r for r in stages["x-kubernetes-validations"] if "keep the order" in r["message"]]
    ranks = "{" + ", ".join(f"'{s}': {i}" for i, s in enumerate(order)) + "}"
    assert rule["rule"].count(ranks) == 2
    assert rule["message"] == "stages must keep the order " + ", ".join(order)
    # ratcheting: a list stored under the earlier order stays valid on update
    assert rule["optionalOldSelf"] is True
    assert rule["rule"].startswith("(oldSelf.hasValue() && oldSelf.value() == self) ||")
    assert ", ".join(order) in version(PIPELINE)["schema"]["openAPIV3Schema"]["description"]


def test_schema_defaults_match_the_model() -> None:
    spec = model.DesignPipelineSpec.model_validate({"source": {"figma": {"fileKey": "k"}}})
    assert at(PIPELINE, "spec.priority")["default"] == spec.priority
    assert at(PIPELINE, "spec.timeouts.stageSeconds")["default"] == spec.timeouts.stage_seconds
    assert (
        at(PIPELINE, "spec.timeouts.pipelineSeconds")["default"] == spec.timeouts.pipeline_seconds
    )
    assert at(PIPELINE, "spec.retries.limit")["default"] == spec.retries.limit
    assert at(PIPELINE, "spec.retries.backoffSeconds")["default"] == spec.retries.backoff_seconds
    target = at(PIPELINE, "spec.target")["properties"]
    assert {k: v["default"] for k, v in target.items()} == spec.target.to_dict()
    tenant = model.TenantSpec()
    assert at(TENANT, "spec.network.allowInternetEgress")["default"] is (
        tenant.network.allow_internet_egress
    )
    assert at(TENANT, "spec.llm.enabled")["default"] is tenant.llm.enabled
    assert at(TENANT, "spec.suspended")["default"] is tenant.suspended


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside X, X | None or tuple[X, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) in (
        typing.Union,
        tuple,
    ):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def assert_same_fields(cls: type[BaseModel], node: dict[str, Any], path: str) -> None:
    fields = {(f.alias or name): f for name, f in cls.model_fields.items()}
    assert set(fields) == set(node["properties"]), f"{path}: {cls.__name__} differs from the CRD"
    for alias, field in fields.items():
        child = node["properties"][alias]
        child = child.get("items", child) if child.get("type") == "array" else child
        sub = _model_of(field.annotation)
        if sub is not None:
            assert_same_fields(sub, child, f"{path}.{alias}")


@pytest.mark.parametrize(
    ("cls", "crd", "path"),
    [
        (model.TenantSpec, TENANT, "spec"),
        (model.TenantStatus, TENANT, "status"),
        (model.DesignPipelineSpec, PIPELINE, "spec"),
        (model.DesignPipelineStatus, PIPELINE, "status"),
    ],
)
def test_models_mirror_the_schema(cls: type[BaseModel], crd: dict[str, Any], path: str) -> None:
    """Every field the operator reads or writes is declared, and nothing is left out."""
    assert_same_fields(cls, at(crd, path), path)
