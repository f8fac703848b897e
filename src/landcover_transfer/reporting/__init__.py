"""What a person reads: tables, plots, report pages and their screenshots."""
