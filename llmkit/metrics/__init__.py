"""Metrics as pure functions over lists (functions.py) and by name (scoring.py); no models here."""
