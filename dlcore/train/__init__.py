"""Step 4 of the workshop: training. The run directory (its only reader and writer), jobs (submit,
cancel, delete), the fair queue, the executors (local processes, Ray), the worker and its
callbacks, transfer from an earlier run, sweeps.

Imports from ``dlcore.data`` and ``dlcore.model``; never from ``dlcore.results``."""
