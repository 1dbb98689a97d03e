from dto.cli import main

raise SystemExit(main())
