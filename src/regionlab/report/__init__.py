"""``report.html``: one self-contained page per training run or compare folder (the table,
learning curves, cost, the task's diagnostics, predictions side by side and the worst images),
inline PNG images only, no script, nothing fetched.

``gather`` reads the folders, ``predict`` runs each model's checkpoint on validation images,
``analysis`` turns predictions into diagnostics, ``figures`` draws them (matplotlib), ``page``
builds escaped HTML, ``sections`` / ``task_sections`` lay the page out and ``write`` writes it.
"""

from __future__ import annotations

__all__ = ["write_report"]


def write_report(folder, **kw):
    """See :func:`regionlab.report.write.write_report`."""
    from regionlab.report.write import write_report as write

    return write(folder, **kw)
