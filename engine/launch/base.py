"""What every part of the launcher shares: its error, a run's state, the tags and limits.

Every run exists in MLflow from the moment it is submitted: its full config as params and config.json, status
SCHEDULED ("queued"), and tags naming its sweep. The queue itself lives in the tracking store, so it survives a
browser, a dashboard restart or a reboot. A run that claims to be RUNNING but whose heartbeat is older than
LOST_AFTER_S (or whose local process is gone) is marked FAILED with reason `lost` by whoever looks at it next.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import tracking

LOST_AFTER_S = 45.0  # three missed heartbeats and then some (tracking.HEARTBEAT_S = 5)
MAX_SUBMIT_DEFAULT = 200
MAX_NAME = 250  # sweep and experiment names: well inside MLflow's limits for names and tag values
SWEEP_TAG, SWEEP_NAME_TAG, BACKEND_TAG, HOST_TAG = "ganboard.sweep", "ganboard.sweep_name", "ganboard.backend", "ganboard.host"
SEQ_TAG, JOB_TAG, REASON_TAG, STOP_TAG = "ganboard.queue_seq", "ganboard.job", "ganboard.end_reason", "ganboard.stop_requested"
RELAUNCH_TAG = "ganboard.relaunch_of"  # the run a relaunch repeats
STATUS_WORDS = tracking.STATUS_WORDS


class LaunchError(ValueError):
    """Bad launch input (one line for the user); nothing has been queued.

    `field` names the input it is about in the engine's terms ("seeds": the count of seeds; a config field; None
    for the launch as a whole), so that a form can show it under the box it came from.
    """

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    def worded(self, words: dict[str, str]) -> str:
        """The message with its leading input name in a front end's words, e.g. {"seeds": "--seeds"}."""
        text = str(self)
        if self.field in words and text.startswith(f"{self.field}:"):
            return words[self.field] + text[len(self.field):]
        return text


def end_gone_run(run_id: str, tags: dict[str, str], why: str) -> tuple[str, str]:
    """End a run marked RUNNING whose process is gone, and return its (status, end reason): a stop asked for
    before the process could record it (it dies by the signal while still importing) ends it as stopped, anything
    else as lost (`why`)."""
    if tags.get(STOP_TAG) == "1":
        status, reason, labels = tracking.KILLED, "stopped", {}
    else:
        status, reason, labels = tracking.FAILED, why, {"ganboard.health": "lost"}
    tracking.set_tags(run_id, {REASON_TAG: reason, **labels})
    tracking.set_status(run_id, status)
    return status, reason


@dataclass
class RunState:
    run_id: str
    name: str
    status: str  # queued, running, finished, failed, killed
    step: int
    steps: int
    job: str  # the backend's handle: a pid or a Ray job id
    reason: str

    def line(self) -> str:
        extra = f"  ({self.reason})" if self.reason else ""
        return f"{self.run_id}  {self.status:<8}  step {self.step}/{self.steps}  {self.job}  {self.name}{extra}"
