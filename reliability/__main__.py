from reliability.cli import main

raise SystemExit(main())
