from regionlab.cli.main import main

raise SystemExit(main())
