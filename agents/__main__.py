"""``python -m pf_agents <stage>``"""

import sys

from .cli import agent_main

if __name__ == "__main__":
    sys.exit(agent_main(sys.argv[1:]))
