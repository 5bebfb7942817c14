"""Engines run training tasks and stream their results back to the caller.

``local`` (the default) uses worker processes on this machine; ``ray`` runs each task on a
Ray cluster. Both call :func:`normlab.experiments.engines.local.execute_task` for one run, so
the same seed gives the same numbers on either.
"""
