"""One module per tab of the page; what tabs share (runs, sessions, targets, figures) stays in :mod:`app`."""
