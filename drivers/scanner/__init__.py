"""USB document scanners through SANE (flatbed, ADF, duplex) and their hot-plug.

The real backend drives ``scanimage`` in a subprocess rather than python-sane in our
process: a wedged USB backend blocks inside C code where no timeout can reach it, while a
child process can always be killed; a crashing backend takes down only the child; and
``scanimage --batch --batch-print`` hands over ADF pages one by one (sane.py has the full
reasoning). Tests use SANE's own ``test`` backend. Failures surface as ScannerError with a stable code and a
Vietnamese message that tells the clerk what to do next.
"""

from drivers.scanner.base import Frame, Scanner, ScannerInfo, ScanSettings
from drivers.scanner.errors import CODES, ScannerError
from drivers.scanner.sane import SaneScanner, list_scanners, parse_device_list, pick_scanner
from drivers.scanner.watcher import ScannerWatcher

__all__ = [
    "CODES",
    "Frame",
    "SaneScanner",
    "Scanner",
    "ScanSettings",
    "ScannerError",
    "ScannerInfo",
    "ScannerWatcher",
    "list_scanners",
    "parse_device_list",
    "pick_scanner",
]
