"""Bayesian calibration of the migration model to observations (ABC-SMC with pyABC).

- ``inference.space``: priors from the calibration space files (uniform or log-uniform over each range),
  the sources' scale priors, and mechanism variants as parameter settings.
- ``inference.simulate``: the model as a function of parameters returning the observations' readings
  (with the observation model: each source's scale and each figure's noise), and the distance.
- ``inference.sampler``: ``sampler_for``, the one place that decides where simulations run.
- ``inference.calibration``: the resumable ABC-SMC run (pyABC's SQLite history) and its outputs.
- ``inference.report``: posterior tables and figures, posterior predictive and forecast bands, the report.
- ``inference.recovery``: the simulation-based calibration check (coverage of the truth).

Run it with ``python -m inference --observations FILE --out DIR`` (or ``python -m experiments.calibrate
--method abc``).
"""
