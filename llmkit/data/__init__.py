"""Reading, cleaning, splitting and packing data (the `preprocess` stage)."""
