"""The worker's table manager: Faust's, without the second it waits at start.

Why: Faust's `TableManager.on_start` sleeps 1 s before it subscribes to the changelogs
and starts their recovery, so that tables an application declares while the worker is
already starting are still registered. The pipeline declares its tables (the regions'
state and the nation's) when it wires the app, before the worker starts: that second
was only added to every start and to every recovery after a crash.

How: a subclass handed to the app through Faust's documented `TableManager` setting, not
a patch: other apps in the process keep Faust's manager. Its start does what Faust's
does after the sleep.
"""

from __future__ import annotations

from faust.tables import TableManager as FaustTableManager


class TableManager(FaustTableManager):
    """Faust's table manager, starting the changelogs' recovery without a pause."""

    async def on_start(self) -> None:
        if not self.should_stop:
            await self._update_channels()
            await self.recovery.start()
