"""OCR: the pool of worker processes beside capture, the tesserocr engine and the work
that runs in the OCR worker processes."""
