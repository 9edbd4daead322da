"""Tasks bind a model family to the engine: batching, loss step, evaluation, predictions.

(They sit between ``engine`` and ``models``/``eval``, which must not know each other.)
"""
