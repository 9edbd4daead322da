"""Export a trained model to ONNX or TorchScript, and run the exported file.

- :mod:`.meta`: what an exported file carries besides its graph (task, spec, classes, size);
- :mod:`.wrappers`: one ``nn.Module`` per task family whose forward takes a float image batch
  in ``[0, 1]`` at the training size and returns plain tensors (the graph's outputs);
- :mod:`.detection`: the detectors' inference written without data-dependent Python branches,
  so tracing records it once for every image (NMS inside the graph);
- :mod:`.exporters`: ``export_model`` / ``export_checkpoint`` (ONNX via the TorchScript-based
  exporter, TorchScript via ``torch.jit.trace``), metadata stored in the file;
- :mod:`.runtime`: ``load_exported(path)``: onnxruntime (the ``export`` extra) or
  ``torch.jit.load``, returning the same typed results as the task's eager ``predict``.

Builds on ``tasks/`` and ``models/``; imports no ``cli/``.
"""

from __future__ import annotations

__all__ = ["ExportError", "export_checkpoint", "export_model", "is_exported", "load_exported"]


def __getattr__(name: str):
    # Lazy: ``regionlab.export`` imports neither torch nor onnx until something is used.
    if name in ("export_model", "export_checkpoint"):
        from regionlab.export import exporters

        return getattr(exporters, name)
    if name in ("load_exported", "is_exported"):
        from regionlab.export import runtime

        return getattr(runtime, name)
    if name == "ExportError":
        from regionlab.export.meta import ExportError

        return ExportError
    raise AttributeError(name)
