"""What the operator and the agents agree on, decided once (docs/contracts.md): the stages and
the order they run in. Every check runs before anything is shipped, so deploy comes last.

The operator's ``Stage`` enum, the CRD's enum and CEL ordering rule (tests/unit/test_crds.py
checks them against this) and the agents' stage runner all follow ``STAGE_ORDER``. Imports
nothing: the operator uses it too.
"""

from __future__ import annotations

#: every stage, in the order a pipeline runs them (``visual`` is announced, not implemented yet)
STAGE_ORDER: tuple[str, ...] = ("analyze", "generate", "test", "qa", "visual", "deploy")

#: the order before deploy moved last: pipelines stored with it keep being accepted and run
#: in their stored order (the CRD ratchets it on update; new pipelines must use STAGE_ORDER)
LEGACY_STAGE_ORDER: tuple[str, ...] = ("analyze", "generate", "test", "deploy", "qa")
