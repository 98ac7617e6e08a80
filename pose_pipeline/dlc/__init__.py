"""DeepLabCut model sweeps: projects, training, evaluation and their report."""
