"""Results files, claims and verdicts, the papers' own figures, one plotting style, and tables."""
