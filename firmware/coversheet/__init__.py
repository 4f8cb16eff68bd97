"""QR cover sheets and batch separators: the payload, the reader, the printer and
what the kiosk does when it sees one."""
