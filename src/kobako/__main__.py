from __future__ import annotations

from kobako.cli.main import exit_now, main

exit_now(main())
