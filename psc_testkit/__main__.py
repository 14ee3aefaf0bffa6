from psc_testkit.cli import main

raise SystemExit(main())
