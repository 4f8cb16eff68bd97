"""Parts of ``sohoa demo`` only: the demo's receiving office and sticks, its hub."""
