"""The ``--data`` option of the commands that read the graded data (``train``, ``label train``, ``run``);
the folder itself is decided by :func:`mr_opensearch.core.paths.data_dir`."""

DATA_HELP = ("Folder with products.csv and judgments.csv (default: the config's data.dir, else $MROS_DATA_DIR, "
             "else shared/data/homedepot beside the mros checkout).")
