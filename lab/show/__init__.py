"""What the notebooks show: HTML tables and pictures, matplotlib figures, progress bars."""
