"""`pf-figma` command line: the operator, the agents, and tools around them."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="pf-figma", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("operator", help="run the operator (settings from PF_* environment variables)")
    sub.add_parser("agent", help="run one agent stage: pf-figma agent <stage>", add_help=False)
    sub.add_parser("run", help="run the agent stages locally on a Figma JSON file", add_help=False)
    sub.add_parser("migrate", help="apply the PostgreSQL schema migrations", add_help=False)
    sub.add_parser(
        "artifacts",
        help="fetch a pipeline's artifacts: artifacts get NS/NAME -o DIR",
        add_help=False,
    )
    sub.add_parser(
        "sources",
        help="store a Figma file too large for a ConfigMap: sources put NS/NAME FILE",
        add_help=False,
    )
    sub.add_parser("version", help="print the version")
    if not argv:
        parser.print_help()
        return 2
    command, rest = argv[0], argv[1:]
    if command == "agent":
        from pf_agents.cli import agent_main

        return agent_main(rest)
    if command == "run":
        from pf_agents.cli import local_main

        return local_main(rest)
    if command == "migrate":
        from .store.cli import migrate_main

        return migrate_main(rest)
    if command == "artifacts":
        from .store.cli import artifacts_main

        return artifacts_main(rest)
    if command == "sources":
        from .store.sources_cli import sources_main

        return sources_main(rest)
    args = parser.parse_args(argv)
    if args.command == "operator":
        from .main import main as operator_main

        operator_main()
        return 0
    if args.command == "version":
        from importlib.metadata import version

        print(version("pf-figma"))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
