from apex_setup.cli import main

raise SystemExit(main())
