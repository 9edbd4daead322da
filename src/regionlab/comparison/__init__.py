"""Comparisons: several models of one task, several seeds each, trained side by side on the
same splits and scored by the same evaluator (``regionlab compare TASK``,
``regionlab.compare(...)``).

| module | job |
| --- | --- |
| ``driver.py`` | ``compare(...)``: splits, jobs, scheduling, statistics, ``compare.json`` |
| ``plan.py`` | ``--models`` entries (``[LABEL=]MODEL[FLAGS]``) -> one training job per seed |
| ``splits.py`` | the report / tune / train splits, as subset files in ``DIR/splits/`` |
| ``scheduler.py`` | each job a ``regionlab train`` process, ``--parallel`` at a time; resume |
| ``score.py`` | a finished run's ``best.pt`` / ``last.pt`` on the report split |
| ``stats.py`` | mean ± sd over seeds, within-noise marks, the printed table |
| ``reuse.py`` | ``--reuse``: same commands, same commit and tree state (unless ``--allow-mixed-commits``) |
| ``peers.py`` | the seam for other libraries' models (the ``bench`` extra) |
| ``peer_run.py`` | one peer run as its own process, scored by our evaluator |
| ``peer_torchvision.py`` | ``tv-frcnn``: torchvision's Faster R-CNN trained by our loop |
| ``peer_yolo.py`` | ``yolo26n``, ``yolov8n``: Ultralytics YOLO (the ``bench`` extra) |

It builds on the Python API (``api/``: specs, subsets, builders, ``evaluate``) and runs
training only through ``python -m regionlab train`` (a peer through ``peer_run``, which uses
``engine/``, ``tasks/`` and ``eval/`` as the API does); ``cli/compare.py`` parses flags and calls
:func:`~regionlab.comparison.driver.compare`. No torch at import.
"""
