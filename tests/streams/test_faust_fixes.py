"""streams/faust_fixes.py: installed on the pinned Faust only, refused on any other.

What the corrections prevent (events lost when a worker starts or takes over partitions)
is shown end to end by tests/reliability/test_process_faults.py, which also requires that
no worker log a skipped offset gap (`Stack.assert_no_offset_gaps`).
"""

from __future__ import annotations

import faust
import pytest
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from streams import faust_fixes


def test_the_corrections_are_installed_on_the_pinned_faust() -> None:
    faust_fixes.apply()
    assert Recovery.on_recovery_completed is faust_fixes._on_recovery_completed
    assert Recovery._resume_streams is faust_fixes._resume_streams
    assert AIOKafkaConsumerThread.getmany is faust_fixes._getmany_active_copy
    assert Consumer._add_gap is faust_fixes._add_gap_reported


def test_another_faust_version_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faust, "__version__", "0.16.0")
    with pytest.raises(RuntimeError, match="corrects faust-streaming 0.15.3, found 0.16.0"):
        faust_fixes.apply()

