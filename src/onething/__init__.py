"""onething — 高效办成一件事: bundle government procedures into the one thing an applicant wants done."""

__version__ = "0.1.0"
