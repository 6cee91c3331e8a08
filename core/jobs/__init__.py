"""Jobs: long work (a training, a comparison, an anomaly experiment) in a worker process, with progress to poll.

  slots.py   JobSlots (how many run at once, the FIFO queue), SLOTS, job_threads
  base.py    Job: the state machine, the worker process or thread or Ray, stop, snapshot
  kinds.py   TrainJob, CompareJob, AnomalyJob: which task, its arguments, the progress it keeps
"""
from .base import Job, JobFailed, StopSignal, ceiling_minutes, live_jobs, portable, warm_workers
from .kinds import CURVE_POINTS, AnomalyJob, CompareJob, TrainJob
from .slots import SLOTS, JobSlots, job_threads

__all__ = ["CURVE_POINTS", "SLOTS", "AnomalyJob", "CompareJob", "Job", "JobFailed", "JobSlots", "StopSignal",
           "TrainJob", "ceiling_minutes", "job_threads", "live_jobs", "portable", "warm_workers"]
