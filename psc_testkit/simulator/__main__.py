"""`python -m psc_testkit.simulator [options]`: the simulator alone (see command.py)."""

from psc_testkit.simulator.command import main

raise SystemExit(main())
