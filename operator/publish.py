"""Pure: a finished pipeline's results as an object its tenant's owners may read.

Owners cannot read the database password (Secret pf-figma-db is the operator's), so the
operator publishes what they came for into the tenant namespace when a pipeline succeeds: the
generated project archive and, when they fit, the visual report and preview, as ConfigMap
``<pipeline>-artifacts`` (binaryData), owned by the pipeline (deleted with it). Owners may read
ConfigMaps; ``pf-figma artifacts get <ns>/<pipeline> -o DIR`` reads it with the caller's
kubeconfig. A ConfigMap holds at most 1 MiB: what does not fit is named in an Event and stays
in the database (``pf-figma artifacts get --dsn``, administrators).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .constants import MANAGED_BY, MANAGED_BY_LABEL, PIPELINE_LABEL, TENANT_LABEL

#: what is published, in order of importance: (stage, artifact name); the newest stage's
#: project archive is the one that counts (qa and visual may rewrite it)
WANTED: tuple[tuple[str, str], ...] = (
    ("project", "project.tar.gz"),
    ("visual", "visual-report.json"),
    ("visual", "preview.tar.gz"),
)
#: bytes of binaryData a published ConfigMap may carry (base64 and metadata stay under 1 MiB)
MAX_BYTES = 700 * 1024
SUFFIX = "-artifacts"
PUBLISHED_ANNOTATION = "pffigma.dev/published-from"


def configmap_name(pipeline: str) -> str:
    return pipeline[: 253 - len(SUFFIX)] + SUFFIX


@dataclass(frozen=True)
class Candidate:
    stage: str
    name: str
    size: int


def choose(
    candidates: Sequence[Candidate], stage_order: Sequence[str], limit: int = MAX_BYTES
) -> tuple[list[Candidate], list[Candidate]]:
    """(published, left out): the newest stage's project archive first, then the visual report
    and preview, each only if it still fits in ``limit`` bytes."""
    rank = {s: i for i, s in enumerate(stage_order)}
    chosen: list[Candidate] = []
    left: list[Candidate] = []
    total = 0
    for stage, name in WANTED:
        matches = [
            c for c in candidates if c.name == name and (stage == "project" or c.stage == stage)
        ]
        if not matches:
            continue
        best = max(matches, key=lambda c: rank.get(c.stage, -1))
        if total + best.size <= limit:
            chosen.append(best)
            total += best.size
        else:
            left.append(best)
    return chosen, left


def artifacts_configmap(
    pipeline: Mapping[str, Any], tenant: str, files: Mapping[str, bytes], source: str
) -> dict[str, Any]:
    """The ConfigMap of a pipeline's published files (name -> bytes)."""
    meta = pipeline["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": configmap_name(meta["name"]),
            "namespace": meta["namespace"],
            "labels": {
                MANAGED_BY_LABEL: MANAGED_BY,
                TENANT_LABEL: tenant,
                PIPELINE_LABEL: meta["name"],
            },
            "annotations": {PUBLISHED_ANNOTATION: source},
            "ownerReferences": [
                {
                    "apiVersion": pipeline.get("apiVersion", "pffigma.dev/v1alpha1"),
                    "kind": "DesignPipeline",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "binaryData": {
            name: base64.b64encode(data).decode() for name, data in sorted(files.items())
        },
    }


def read_configmap(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """The files of a published ConfigMap."""
    return {name: base64.b64decode(value) for name, value in (obj.get("binaryData") or {}).items()}
