"""Region-word alignment (Karpathy & Fei-Fei, "Deep Visual-Semantic Alignments")."""
