"""The master process of a server with workers (workers >= 1), one job per module.

- arbiter.py: the supervision loop (signals, spawn, reap, murder, manage workers, halt)
- services.py: the master's own part of the app (pid file, broker host, summed metrics,
  control socket, its listeners)
- operator.py: what operators may do over the control socket (status, reload, scale, stop)
- rolling.py: rolling reloads, one generation at a time
- reports.py: what the workers say over their pipes; worker_pipe.py: one worker's pipe
- slots.py: worker ids, worker processes and the restart rule
- supervisor.py: Supervisor for master-side code; notices.py: on_worker_online/exit
- metrics.py, metrics_sum.py: the whole server's /metrics, summed
- halt.py: HaltServer, every way out of the master
"""
