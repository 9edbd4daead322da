"""regionlab: the classic beyond-classification vision methods in one small PyTorch codebase.

Rooms (see ARCHITECTURE in the closing notes): ``data`` (readers, scene generator, one ``Sample``),
``ops`` (upsampling and other building blocks), ``models`` (one folder per task), ``eval`` (metrics),
``engine`` (training loop, checkpoints), ``tasks`` (binds a model family to the engine),
``growth`` (Net2Net / Network Morphism), ``viz`` (PNG drawing), ``cli`` (the ``regionlab`` command).
"""

__version__ = "0.1.0"
