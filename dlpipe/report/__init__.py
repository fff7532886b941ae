"""The report stage: verdicts, insights into the trained model, figures, and the HTML pages (report, index, comparison)."""
