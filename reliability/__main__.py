from reliability.entry import main

raise SystemExit(main())
