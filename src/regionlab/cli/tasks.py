"""The table of the task families the command line knows: one line each.

Each family's flags, builder, drawing, recipe and ``eval`` / ``predict`` options are in its own
module, as a :class:`~regionlab.cli.taskcli.TaskCLI`; ``train``, ``tune``, ``eval``,
``predict`` and ``data check`` read them from here.
"""

from __future__ import annotations

from regionlab.cli import align, caption, detect, instance, keypoints, localize, segment
from regionlab.cli.taskcli import TaskCLI

TASKS: dict[str, TaskCLI] = {
    cli.name: cli
    for cli in (
        segment.CLI,
        localize.CLI,
        keypoints.CLI,
        detect.CLI,
        instance.CLI,
        caption.CLI,
        align.CLI,
    )
}
