"""Running the graph: Luigi tasks, completion markers, run history, progress lines, the write lock, luigid, and the
lifeline that ends forked workers with their parent."""
