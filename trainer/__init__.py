"""The training side of mros: graded data, Stage 1 / Stage 2 training, evaluation and export."""
