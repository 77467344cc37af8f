"""Time, without I/O: cron schedules in a time zone, clocks, and the ledger-driven verdict."""

from lethe.schedule.clock import Clock, ManualClock, ScaledClock, SystemClock
from lethe.schedule.cron import Schedule
from lethe.schedule.decide import JobState, Record, Rules, SlotStatus, Verdict, decide

__all__ = [
    "Clock",
    "JobState",
    "ManualClock",
    "Record",
    "Rules",
    "ScaledClock",
    "Schedule",
    "SlotStatus",
    "SystemClock",
    "Verdict",
    "decide",
]
