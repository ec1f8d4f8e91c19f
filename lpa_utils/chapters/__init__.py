"""One module per chapter of the book: its experiments, records, claims and findings. Notebooks call these;
nothing below the chapters imports them."""
