from __future__ import annotations

from kobako.cli.main import main

raise SystemExit(main())
