"""The reports: words and plots around the figures analysis wrote, never new figures.

- `run`: a run's report.md and report.html
- `sweep`: a sweep's report (the matrix, the tuner's verdict, trade-off curves)
- `plots`, `sweep_plots`: the figures, as PNG files in the folder's plots/
- `compare`: two runs side by side
- `render`: the templates, shared by both reports
"""
