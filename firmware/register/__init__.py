"""The document register (sổ đăng ký văn bản đến / đi) and what is measured against it.

``reader``/``columns``/``rows``/``importer``  import of CSV and XLSX registers
``keys``       OCR-tolerant keys of numbers and symbols
``matching``   scanned documents -> register entries, with a score
``selection``  which periods, types and directions are to be digitized
``custody``    originals checked out to the kiosk and returned
``progress``   digitized / total per register, year and type
``hooks``      what sealing does with all of the above
"""
